"""Data loaders: IDX image sets (MNIST, Fashion-MNIST)."""

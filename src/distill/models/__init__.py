"""Classifier architectures used by classic distillation, kept in one registry."""

from distill.models.classifiers import ARCHITECTURES, MLP, Ensemble, SmallCNN, build_classifier

__all__ = ["ARCHITECTURES", "Ensemble", "MLP", "SmallCNN", "build_classifier"]

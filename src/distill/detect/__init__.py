"""Detecting distillation: traffic scans of API logs and identity probes."""

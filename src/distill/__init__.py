"""distill: knowledge distillation, from Hinton's soft targets to LLM students, and its detection."""

__version__ = "0.1.0"

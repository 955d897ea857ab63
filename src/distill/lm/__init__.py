"""White-box distillation of causal language models (Hugging Face transformers)."""

"""Detection of distillation: traffic scans of API logs (``traffic``) and identity probes."""

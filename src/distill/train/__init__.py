"""Written-out training loops on accelerate."""

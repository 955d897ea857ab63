"""`distill serve`: an OpenAI-compatible HTTP server for a local model (and a fake endpoint for tests)."""

"""Reference experiments reproduced end to end."""

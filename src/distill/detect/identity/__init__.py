"""`distill detect identity`: ask a model who it is, in several languages, and count whom it claims to be."""

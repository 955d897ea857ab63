"""The documentation assistant: docs → grounded question/reasoning/answer triples → student → served.

Steps (each a `distill docs` subcommand): ingest → generate (teacher + quality filters + export) →
train → eval → curve; `quickstart` runs them all on Python's own documentation.
"""

"""Provenance of text: which model wrote it (`attribution`), which teacher taught a student (`lineage`).

``collect`` asks several models the same prompts; ``train`` fits classifiers that tell their answers apart
(split by prompt, so no prompt is in both train and test); ``predict`` scores new texts, with a calibrated
"none of these"; ``lineage`` tests whether a suspect's answers are closer to a candidate teacher's than to
models known to be unrelated.
"""

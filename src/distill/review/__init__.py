"""Human review of generated training data: `distill review DATASET` (a local web page) and
`distill review export` (the reviewed data set, in the format of :mod:`distill.docs.export`)."""

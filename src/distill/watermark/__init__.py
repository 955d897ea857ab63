"""Defenses at the source: a green-list watermark on generated text (Kirchenbauer et al. 2023) and a
radioactivity test of whether a suspect model was trained on watermarked text (Sander et al. 2024).

- :mod:`~distill.watermark.keys`: the secret key, read from an environment variable, never logged;
- :mod:`~distill.watermark.greenlist`: the keyed green-list split and the transformers logits processor;
- :mod:`~distill.watermark.detect`: z-scores and p-values of texts, `distill detect watermark`;
- :mod:`~distill.watermark.radioactivity`: `distill detect radioactivity` (open and closed mode);
- :mod:`~distill.watermark.antidistill`: antidistillation sampling (Savani et al. 2025), `distill serve --antidistill`.
"""

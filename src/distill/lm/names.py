"""Names the LM commands accept, importable without torch (``--help`` stays fast).

``Divergence`` lists ``distill.losses.DIVERGENCES`` in order; a test keeps the two in step."""

from typing import Literal

Divergence = Literal["forward_kl", "reverse_kl", "jsd", "skew_kl", "skew_rkl", "tvd"]
# A divergence to the teacher, or "ce": cross-entropy on the text alone (the baseline; no teacher needed).
Loss = Literal[Divergence, "ce"]

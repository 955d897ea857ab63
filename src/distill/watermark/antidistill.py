"""Antidistillation sampling (Savani et al., NeurIPS 2025): sample answers that read well but teach a
student less.

The teacher samples from its log-probabilities plus ``λ`` times an estimate of how much training a student
on each candidate token would *raise* that student's loss on a downstream task the defender cares about:

    Δ(x) = ⟨∇θ L(θ_P), ∇θ log p_P(x | prefix)⟩ ≈ [log p_{θ_P + εg}(x | prefix) − log p_{θ_P − εg}(x | prefix)] / 2ε,

with ``θ_P`` a proxy student, ``L`` its loss on the downstream data and ``g = ∇L / ‖∇L‖`` (computed once).
A gradient step on token x moves θ along ∇ log p(x), which changes L by about η·Δ(x): tokens with a large Δ
are the ones that make a distilled student worse. The two perturbed copies of the proxy give Δ for the whole
vocabulary at once (two proxy forwards per generated token). The teacher's and the proxy's tokenizers must be
the same. With λ = 0 it is plain sampling.

Status: the processor, its finite-difference check against autograd and the `distill serve` flags are
tested; the accuracy trade-off curve is measured by ``benchmarks/antidistill.py`` on a synthetic addition
task (:mod:`distill.watermark.arith`; figures in the README).
"""

from __future__ import annotations

import copy
from typing import Sequence

try:
    from transformers import LogitsProcessor as _ProcessorBase
except ImportError:  # pragma: no cover
    _ProcessorBase = object


def downstream_direction(proxy, batches: Sequence[Sequence[int]], score_from: int = 0):
    """The unit direction g = ∇L / ‖∇L‖ of the proxy's mean next-token loss L on the downstream texts.

    Args:
        proxy: the proxy student (a causal LM).
        batches: token ids of each downstream text (each ≥ 2 tokens, and more than ``score_from``).
        score_from: the first ``score_from`` tokens of each text are context (a task's prompt), not scored:
            L is the loss on the answer tokens only (0: every token after the first).

    Returns:
        One tensor per parameter of ``proxy`` (same order as ``proxy.parameters()``), jointly of norm 1.

    Raises:
        ValueError: no text of at least two tokens.
    """
    import torch

    texts = [list(t) for t in batches if len(t) >= max(2, score_from + 1)]
    if not texts:
        raise ValueError(f"antidistill data: need at least one text of more than max(1, score_from={score_from}) "
                         "tokens.")
    params = [p for p in proxy.parameters()]
    proxy.zero_grad(set_to_none=True)
    for t in texts:
        x = torch.tensor([t], device=params[0].device)
        y = x.clone()
        y[:, :score_from] = -100  # context tokens: not scored
        (proxy(input_ids=x, labels=y).loss / len(texts)).backward()
    grads = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]
    proxy.zero_grad(set_to_none=True)
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).float().clamp_min(1e-30)
    return [g / norm for g in grads]


class AntidistillProcessor(_ProcessorBase):
    """A ``LogitsProcessor``: the teacher's log-probabilities plus ``lam`` · Δ(x) (see the module docstring).

    Args:
        proxy: the proxy student (same tokenizer as the teacher); it is copied, not changed.
        direction: :func:`downstream_direction` of ``proxy``.
        lam: λ, the weight of the antidistillation term (0: plain sampling).
        eps: the finite-difference step along ``direction``.
    """

    def __init__(self, proxy, direction, lam: float, eps: float = 1e-2):
        import torch

        self.lam, self.eps = float(lam), float(eps)
        self.plus, self.minus = copy.deepcopy(proxy).eval(), copy.deepcopy(proxy).eval()
        with torch.no_grad():
            for model, sign in ((self.plus, 1.0), (self.minus, -1.0)):
                for p, g in zip(model.parameters(), direction, strict=True):
                    p.add_(g.to(p.dtype), alpha=sign * self.eps)

    def __repr__(self) -> str:
        return f"AntidistillProcessor(lam={self.lam}, eps={self.eps})"

    def delta(self, input_ids):
        """Δ(x) for every token x after each row of ``input_ids``.

        Args:
            input_ids: the tokens so far (B, L), long.

        Returns:
            (B, V_proxy) float tensor.
        """
        import torch

        with torch.inference_mode():
            ids = input_ids.to(next(self.plus.parameters()).device)
            up = self.plus(input_ids=ids).logits[:, -1].float().log_softmax(-1)
            down = self.minus(input_ids=ids).logits[:, -1].float().log_softmax(-1)
        return (up - down) / (2 * self.eps)

    def __call__(self, input_ids, scores):
        """Teacher log-probabilities plus λ·Δ.

        Args:
            input_ids: the tokens so far (B, L), long.
            scores: the teacher's next-token logits (B, V).

        Returns:
            (B, V) scores: ``log_softmax(scores) + lam · Δ`` (tokens beyond the proxy's vocabulary get no term).
        """
        out = scores.float().log_softmax(-1)
        if self.lam == 0:
            return out
        d = self.delta(input_ids).to(out.device)
        v = min(d.shape[-1], out.shape[-1])
        out[:, :v] += self.lam * d[:, :v]
        return out

"""Distillation losses: pure functions over tensors.

Every divergence here compares a student distribution ``q`` (from logits) with a
teacher distribution ``p`` (from dense logits or sparse top-k log-probabilities) at
each position, and returns the mean over unmasked positions of the per-position
divergence (summed over the vocabulary), as a 0-dim float32 tensor.

Notation, per position, at temperature T:
    q = softmax(student_logits / T),  p = softmax(teacher_logits / T)
    KL(a ‖ b) = Σ_v a_v (log a_v − log b_v)

Shapes: ``student_logits`` is (..., V) in any float dtype (fp32, bf16, fp16, fp64);
dense ``teacher_logits`` has the same shape; ``labels`` is (...) int64 with
``ignore_index`` marking positions to skip. Computation is in fp32 (fp64 when the
student is fp64) whatever the input dtype; the gradient comes back in the student's dtype.

Implementation: one autograd function (``_Divergence``) evaluates every divergence in
row chunks. For each chunk it computes the per-row loss *and* its analytic gradient
with respect to the student logits and writes that gradient into the output buffer;
backward only hands the buffer on (scaled when the loss was). The chunk's intermediates
live in a few scratch buffers reused by every chunk. Peak memory is therefore the
gradient buffer plus a few chunk-sized scratch buffers instead of a dozen B×L×V tensors.
The default ``chunk_size="auto"`` picks the chunk from V and a scratch budget
(``auto_chunk_size``); ``chunk_size=None`` runs the same code on all rows at once, so chunked
and plain results agree to float rounding. Teacher targets are constants: no gradient flows to them.

Fused linear path: pass ``LinearLogits(hidden, weight)`` (an LM's last hidden states and output layer)
instead of logits, to any divergence or to ``fused_linear_loss`` (which also mixes in hard-label CE).
The same loop and chunk functions run, but each chunk's logits are made from the hidden states and its
logit gradient goes straight into the gradients for the hidden states and the weight, so neither the
B×L×V logits nor their gradient exist; the teacher may be ``LinearLogits`` too.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from distill.registry import Described, Registry

__all__ = [
    "TopKTargets",
    "SampledTargets",
    "LinearLogits",
    "FusedLoss",
    "fused_linear_loss",
    "sampled_targets",
    "forward_kl",
    "reverse_kl",
    "generalized_jsd",
    "skew_kl",
    "tvd",
    "hinton_kd",
    "mix_teachers",
    "feature_kd",
    "topk_targets",
    "auto_chunk_size",
    "DIVERGENCES",
    "DivergenceEntry",
]


@dataclass(frozen=True)
class TopKTargets:
    """Sparse teacher targets: the k most likely tokens at each position.

    Attributes:
        indices: (..., k) int64 token ids.
        logprobs: (..., k) float log-probabilities of those tokens under the teacher's
            *full* distribution at the capture temperature ``temperature`` (what an
            OpenAI-compatible server's ``top_logprobs`` or ``distill``'s logit store
            return). -inf marks padding.
        tail: optional (...) float: the probability mass outside the top k (at the capture
            temperature). When None
            it is ``max(0, 1 − Σ exp(logprobs))`` (0 when k = V); pass zeros for targets
            that were renormalized over the top k. A zero tail is floored at the float
            type's smallest normal number (1.2e-38 in fp32), so divergences that weigh
            by the student (reverse KL, SRKL) stay finite but strongly push the student's
            tail mass toward 0.
        temperature: t, the capture temperature: the log-probabilities are those of
            softmax(teacher_logits / t) (default 1: the teacher's own distribution). The
            losses re-temper from t to their own T, never from 1 (a store captured at
            t = 2 and trained at T = 2 is used as is, not tempered twice).

    How the divergences use them: the vocabulary is partitioned into k + 1 bins (each
    top-k token alone, and one "tail" bin holding every other token); teacher and
    student are both reduced to distributions over these bins and compared there. With
    k = V (or a zero tail on both sides) this is the dense divergence exactly; otherwise
    it is the divergence between the coarsened distributions, which for every f-divergence
    here (KL, reverse KL, JSD, skew KL, TVD) is a lower bound on the dense value (data
    processing inequality).

    Temperature: the loss at temperature T needs p_T ∝ p_t^(t/T). For tokens inside the
    top k this is exact: their tempered log-probabilities are (t/T) · logprobs up to one
    shared normalizer. The tail's tempered mass Σ_tail p_v^(t/T) cannot be known from its
    total mass r alone; it is taken as r^(t/T), as if the tail were a single token. That is
    exact when T = t (nothing is re-tempered) or when the tail is 0 (k = V, renormalized
    targets); for T > t it under-weights the tail (the true value lies in
    [r^(t/T), (V−k)^(1−t/T) r^(t/T)]), for T < t it over-weights it.
    The student's side is always exact: it is tempered from its full logits.
    """

    indices: torch.Tensor
    logprobs: torch.Tensor
    tail: torch.Tensor | None = None
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.indices.shape != self.logprobs.shape:
            raise ValueError(
                f"TopKTargets: indices {tuple(self.indices.shape)} and logprobs "
                f"{tuple(self.logprobs.shape)} must have the same shape (..., k)."
            )
        if self.indices.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"TopKTargets.indices must be int64 or int32, got {self.indices.dtype}.")
        if self.tail is not None and self.tail.shape != self.indices.shape[:-1]:
            raise ValueError(
                f"TopKTargets.tail has shape {tuple(self.tail.shape)}; expected "
                f"{tuple(self.indices.shape[:-1])} (one value per position)."
            )
        _check_temperature(self.temperature)

    @property
    def k(self) -> int:
        return self.indices.shape[-1]


@dataclass(frozen=True)
class SampledTargets:
    """Sparse teacher targets by sampling (Random-Sampling KD, Anshumann et al. 2025, "Sparse Logit Sampling").

    At each position N tokens were drawn with replacement from the teacher's distribution at
    the *sampling* temperature t, p_t = softmax(teacher_logits / t); the distinct tokens are
    kept with their counts. The estimated target is p̂_v = c_v / N.

    Attributes:
        indices: (..., m) int64 token ids (m ≥ the number of distinct draws; entries with
            count 0 are padding and may repeat an id).
        counts: (..., m) integer or float draw counts; Σ counts = N at every position.
        logprobs: optional (..., m) float: log p_t of each id (the teacher's log-probability
            at the sampling temperature). Needed to train at a temperature T ≠ t and to
            report KL rather than cross-entropy (see below).
        temperature: t, the sampling temperature (default 1: the teacher's own distribution).

    What the losses do with them (forward KL only: no other divergence has an unbiased
    sampled estimator, and they refuse these targets):
      * T = t (the default: both 1). p̂ = counts / N, and E[p̂_v] = p_v exactly for every
        token (counts are multinomial). The per-position gradient with respect to the student
        logits, (q − p̂) / T, is therefore an **unbiased estimate of the dense forward-KL (and
        cross-entropy) gradient (q − p) / T for any N ≥ 1**. The loss value is
        Σ_v p̂_v (log p_v − log q_v): unbiased for KL(p ‖ q) when ``logprobs`` are given; without
        them it is −Σ_v p̂_v log q_v, unbiased for the cross-entropy H(p, q) = KL + H(p) (same
        gradient, the teacher's entropy left out).
      * T ≠ t (paper §3, sampling from a tempered proposal): self-normalized importance
        weights w_v ∝ c_v p_t(v)^(t/T − 1) retarget the draws to p_T ∝ p_t^(t/T). This is
        consistent, not unbiased (bias O(1/N)); it needs ``logprobs``.
    """

    indices: torch.Tensor
    counts: torch.Tensor
    logprobs: torch.Tensor | None = None
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.indices.shape != self.counts.shape:
            raise ValueError(
                f"SampledTargets: indices {tuple(self.indices.shape)} and counts "
                f"{tuple(self.counts.shape)} must have the same shape (..., m)."
            )
        if self.logprobs is not None and self.logprobs.shape != self.indices.shape:
            raise ValueError(
                f"SampledTargets.logprobs has shape {tuple(self.logprobs.shape)}; expected "
                f"{tuple(self.indices.shape)} (one per sampled id)."
            )
        if self.indices.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"SampledTargets.indices must be int64 or int32, got {self.indices.dtype}.")
        _check_temperature(self.temperature)

    @property
    def k(self) -> int:
        return self.indices.shape[-1]


@dataclass(frozen=True)
class LinearLogits:
    """Logits that are never built: ``hidden @ weight.T (+ bias)``, an LM's last hidden states and output layer.

    Pass it as ``student_logits`` to any divergence (or to ``fused_linear_loss``) and the loss is computed
    chunk by chunk over positions, with the gradients for ``hidden``, ``weight`` and ``bias`` accumulated per
    chunk during the forward: neither the (..., V) logits nor their gradient ever exist. Pass it as the
    teacher and the teacher's logits are made chunk by chunk too (no gradient flows to them).

    Attributes:
        hidden: (..., H) float hidden states (the input of the output layer, after the final norm).
        weight: (V, H) float output weight (for tied embeddings, the embedding matrix itself: its
            gradient then sums this use and the embedding lookup's, as autograd does for any shared tensor).
        bias: optional (V,) float output bias.
    """

    hidden: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None = None

    def __post_init__(self) -> None:
        h, w = self.hidden, self.weight
        if not (isinstance(h, torch.Tensor) and isinstance(w, torch.Tensor) and h.is_floating_point()
                and w.is_floating_point()):
            raise ValueError("LinearLogits needs floating-point tensors hidden (..., H) and weight (V, H).")
        if h.dim() < 1 or w.dim() != 2 or h.shape[-1] != w.shape[1]:
            raise ValueError(f"LinearLogits: hidden {tuple(h.shape)} must be (..., H) and weight {tuple(w.shape)} "
                             "(V, H) with the same H.")
        if self.bias is not None and tuple(self.bias.shape) != (w.shape[0],):
            raise ValueError(f"LinearLogits.bias has shape {tuple(self.bias.shape)}; expected ({w.shape[0]},).")

    @property
    def vocab_size(self) -> int:
        return self.weight.shape[0]

    @property
    def shape(self) -> torch.Size:
        """The shape the logits would have: (..., V)."""
        return torch.Size((*self.hidden.shape[:-1], self.vocab_size))


def sample_counts(logp: torch.Tensor, n: int, generator: torch.Generator | None = None):
    """Draw n tokens per row from exp(logp) (..., V); return distinct ids and counts, each (..., n).

    Ids come sorted ascending; a row with u < n distinct tokens is padded with count 0 and
    its largest sampled id (so the ids stay sorted, which the compact store encoding needs).

    Args:
        logp: (..., V) log-probabilities of each row's distribution (drawn in fp32).
        n: draws per row, with replacement.
        generator: optional ``torch.Generator`` for reproducible draws.

    Returns:
        (ids, counts), both (..., n) int64: the distinct sampled ids and how often each was
        drawn (Σ counts = n per row; padding has count 0).
    """
    lead, V = logp.shape[:-1], logp.shape[-1]
    probs = logp.reshape(-1, V).float().exp()
    draws = torch.multinomial(probs, n, replacement=True, generator=generator).sort(-1).values  # (R, n)
    first = torch.ones_like(draws, dtype=torch.bool)
    first[:, 1:] = draws[:, 1:] != draws[:, :-1]  # the first draw of each distinct token
    seg = first.long().cumsum(-1) - 1  # (R, n): which distinct token each draw belongs to
    counts = torch.zeros_like(draws).scatter_add_(1, seg, torch.ones_like(draws))
    pos = torch.arange(n, device=draws.device).expand_as(draws)
    at = torch.full_like(draws, n - 1).scatter_reduce_(1, seg, pos, reduce="amin")  # padding → the last draw
    ids = draws.gather(1, at)
    return ids.reshape(*lead, n), counts.reshape(*lead, n)


def sampled_targets(teacher_logits: torch.Tensor, n: int, *, temperature: float = 1.0,
                    generator: torch.Generator | None = None) -> SampledTargets:
    """Sampled targets from dense teacher logits (..., V): n draws per position from softmax(logits / t).

    Args:
        teacher_logits: (..., V) float teacher logits.
        n: draws per position.
        temperature: t > 0, the sampling temperature, carried by the targets.
        generator: optional ``torch.Generator`` for reproducible draws.

    Returns:
        ``SampledTargets`` with (..., n) ids, counts and log p_t of each id.

    Raises:
        ValueError: ``temperature`` is not a finite number > 0.
    """
    _check_temperature(temperature)
    logp = (teacher_logits.to(_compute_dtype(teacher_logits)) / temperature).log_softmax(-1)
    ids, counts = sample_counts(logp, n, generator)
    return SampledTargets(ids, counts, logp.gather(-1, ids), temperature)


def topk_targets(teacher_logits: torch.Tensor, k: int, *, keep_tail: bool = True,
                 temperature: float = 1.0) -> TopKTargets:
    """Sparse targets from dense teacher logits (..., V): top-k ids and full-vocabulary log-probs
    of softmax(logits / temperature), which the targets carry as their capture temperature.

    ``keep_tail=False`` renormalizes over the top k (tail = 0), as some logit stores do.

    Args:
        teacher_logits: (..., V) float teacher logits.
        k: tokens kept per position, 1 ≤ k ≤ V.
        keep_tail: keep the mass outside the top k as the tail (True) or renormalize over
            the top k with a zero tail (False).
        temperature: t > 0, the capture temperature, carried by the targets.

    Returns:
        ``TopKTargets`` with (..., k) ids and log-probabilities, highest first.

    Raises:
        ValueError: ``temperature`` is not a finite number > 0.
    """
    _check_temperature(temperature)
    logp = (teacher_logits.to(_compute_dtype(teacher_logits)) / temperature).log_softmax(-1)
    values, indices = logp.topk(k, dim=-1)
    if keep_tail:
        return TopKTargets(indices, values, temperature=temperature)
    values = values - values.logsumexp(-1, keepdim=True)
    return TopKTargets(indices, values, torch.zeros(values.shape[:-1], device=values.device), temperature)


# ---------------------------------------------------------------------------------------
# Divergence kernels. Each takes student and teacher log-probabilities s, t of shape
# (n, m) (m = V for dense targets, k + 1 bins for sparse ones), finite or −inf (then
# ``ws.exact_inf`` is set and ``_zero_nan_`` applies 0 · log 0 = 0), the student
# probabilities q = exp(s), and a workspace of scratch buffers; it returns
# (loss (n,), g (n, m)) where g = ∂loss/∂s with s treated as free coordinates. The
# shared code turns g into the gradient with respect to the logits. Kernels overwrite s
# and t (scratch) but not q. This is the hot loop of LLM distillation, so every op works
# in place or into a reused buffer: on CPU, fresh multi-megabyte allocations per chunk
# (page faults) cost more than the arithmetic.
# ---------------------------------------------------------------------------------------


class _Workspace:
    """Named scratch buffers, allocated once per loss call and reused by every chunk.

    ``exact_inf``: some log-probability is −inf (a masked or filtered token); kernels then
    apply 0 · log 0 = 0 to their per-token terms (``_zero_nan_``). Off on the first pass,
    which is exact whenever everything is finite; see ``_Divergence.forward``."""

    def __init__(self, dtype: torch.dtype, device: torch.device, exact_inf: bool = False):
        self.dtype, self.device, self.bufs, self.exact_inf = dtype, device, {}, exact_inf

    def __call__(self, name: str, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
        n = math.prod(shape)
        buf = self.bufs.get(name)
        if buf is None or buf.numel() < n:
            buf = self.bufs[name] = torch.empty(n, dtype=self.dtype, device=self.device)
        return buf[:n].view(shape)


Kernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, _Workspace], tuple[torch.Tensor, torch.Tensor]]


def _zero_nan_(term: torch.Tensor, ws: _Workspace) -> torch.Tensor:
    """0 · log 0 = 0 in place: with inputs free of NaN, a NaN per-token term can only be
    0 · (±inf) or (−inf) − (−inf), i.e. a token with probability 0 on the side that weighs it.
    ±inf (an infinite divergence: mass where the other side has none) is kept."""
    if ws.exact_inf:
        term.nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)
    return term


def _mixture(a: torch.Tensor, b: torch.Tensor, weight_b: float, ws: _Workspace) -> torch.Tensor:
    """M = (1 − w) a + w b, floored at the dtype's tiny so that log M is finite where both
    probabilities underflow (every term using it is then 0 · finite)."""
    return torch.lerp(a, b, weight_b, out=ws("mix", a.shape)).clamp_min_(torch.finfo(a.dtype).tiny)


def _forward_kl_kernel(s, t, q, ws):
    # KL(p ‖ q) = Σ p (t − s);  ∂/∂s = −p
    p = torch.exp(t, out=ws("p", t.shape))
    loss = _zero_nan_(t.sub_(s).mul_(p), ws).sum(-1)
    return loss, p.neg_()


def _reverse_kl_kernel(s, t, q, ws):
    # KL(q ‖ p) = Σ q (s − t);  ∂/∂s = q (s − t) + q
    term = _zero_nan_(s.sub_(t).mul_(q), ws)
    return term.sum(-1), term.add_(q)


def _jsd_kernel(beta: float) -> Kernel:
    def kernel(s, t, q, ws):
        # GKD eq. 1: m = (1−β) q + β p;  JSD = β KL(p ‖ m) + (1−β) KL(q ‖ m)
        # ∂/∂s = (1−β) q (s − log m)   (the other terms cancel because β p + (1−β) q = m)
        p = torch.exp(t, out=ws("p", t.shape))
        log_m = _mixture(q, p, beta, ws).log_()
        kt = _zero_nan_(t.sub_(log_m).mul_(p), ws).sum(-1)
        ks = _zero_nan_(s.sub_(log_m).mul_(q), ws)
        loss = torch.add(ks.sum(-1), kt, alpha=beta / (1 - beta)).mul_(1 - beta)
        return loss, ks.mul_(1 - beta)

    return kernel


def _skew_forward_kernel(alpha: float) -> Kernel:
    def kernel(s, t, q, ws):
        # DistiLLM SKL: KL(p ‖ m), m = α p + (1−α) q;  ∂/∂s = −(1−α) p q / m
        p = torch.exp(t, out=ws("p", t.shape))
        mix = _mixture(q, p, alpha, ws)
        loss = _zero_nan_(t.sub_(torch.log(mix, out=s)).mul_(p), ws).sum(-1)  # s is free: reuse it for log m
        return loss, p.mul_(q).div_(mix).mul_(alpha - 1)

    return kernel


def _skew_reverse_kernel(alpha: float) -> Kernel:
    def kernel(s, t, q, ws):
        # DistiLLM SRKL: KL(q ‖ m), m = α q + (1−α) p;  ∂/∂s = q (s − log m) + q − α q² / m
        p = torch.exp(t, out=ws("p", t.shape))
        mix = _mixture(p, q, alpha, ws)
        term = _zero_nan_(s.sub_(torch.log(mix, out=t)).mul_(q), ws)  # t is free: reuse it for log m
        loss = term.sum(-1)
        return loss, term.add_(q).sub_(p.copy_(q).square_().div_(mix).mul_(alpha))

    return kernel


def _gjsd_kernel(beta: float = 0.5) -> Kernel:
    """The kernel of ``generalized_jsd`` at β (TRL's end points: β = 0 forward KL, β = 1 reverse KL)."""
    _check_unit("beta", beta)
    if beta == 0:
        return _forward_kl_kernel
    if beta == 1:
        return _reverse_kl_kernel
    return _jsd_kernel(float(beta))


def _skew_kernel(skew: float = 0.1, reverse: bool = False) -> Kernel:
    """The kernel of ``skew_kl``: SKL_α, or SRKL_α with ``reverse``."""
    _check_unit("skew", skew, open_high=True)
    return _skew_reverse_kernel(float(skew)) if reverse else _skew_forward_kernel(float(skew))


def _tvd_kernel(s, t, q, ws):
    # TVD = ½ Σ |q − p|;  ∂/∂s = ½ sign(q − p) q   (sign(0) = 0: a subgradient)
    diff = t.exp_().sub_(q).neg_()  # q − p
    loss = torch.abs(diff, out=s).sum(-1).mul_(0.5)
    return loss, diff.sign_().mul_(q).mul_(0.5)


# ---------------------------------------------------------------------------------------
# Shared machinery: validation, flattening, chunked evaluation with analytic gradients.
# ---------------------------------------------------------------------------------------


def _check_unit(name: str, value: float, *, open_low: bool = False, open_high: bool = False) -> None:
    lo_ok = value > 0 if open_low else value >= 0
    hi_ok = value < 1 if open_high else value <= 1
    if not (isinstance(value, (int, float)) and lo_ok and hi_ok and math.isfinite(value)):
        rng = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise ValueError(f"{name} must be in {rng}, got {value!r}.")


def _check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}.")


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


class _Prepared(NamedTuple):
    student: torch.Tensor  # (N, V), the student logits flattened (a view when possible)
    dense: torch.Tensor | None  # (N, V) teacher logits, or None for sparse targets
    sparse: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None  # (N, k) ids, (N, k) logp, (N,) tail
    rows: torch.Tensor | None  # (n,) indices of kept rows, or None for all rows
    sampled: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (N, m) ids, p̂, teacher log p_T
    power: float = 1.0  # sparse: t / T, the exponent that re-tempers the capture temperature t to T


_warned_teacher_grad = False


def _prepare_sampled(teacher: SampledTargets, lead, V: int, T: float):
    """(ids, p̂, ℓ), each (N, m): the estimated target at temperature T and the teacher's log p_T
    of each id (0 where unknown, which turns the loss value into a cross-entropy)."""
    if teacher.indices.shape[:-1] != lead:
        raise ValueError(
            f"SampledTargets cover positions {tuple(teacher.indices.shape[:-1])} but student_logits "
            f"has positions {tuple(lead)}; they must match."
        )
    m = teacher.k
    ids = teacher.indices.reshape(-1, m).long()
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
        raise ValueError(f"SampledTargets.indices must lie in [0, {V}) (the student vocabulary size), got ids in "
                         f"[{int(ids.min())}, {int(ids.max())}]. Student and teacher vocab sizes differ?")
    dtype = torch.float64 if teacher.counts.dtype == torch.float64 else torch.float32
    c = teacher.counts.reshape(-1, m).to(dtype)
    if bool((c < 0).any()) or (c.numel() and bool((c.sum(-1) <= 0).any())):
        raise ValueError("SampledTargets.counts must be ≥ 0 with a positive sum at every position.")
    lp = None if teacher.logprobs is None else teacher.logprobs.reshape(-1, m).to(dtype).detach()
    t = teacher.temperature
    if T != t and lp is None:
        raise ValueError(f"SampledTargets drawn at temperature {t} need their logprobs to train at temperature {T}; "
                         "capture with the training temperature or keep the log-probabilities.")
    floor = math.log(torch.finfo(dtype).tiny)
    if lp is not None:
        lp = lp.clamp_min(floor)  # padding may carry −inf; its weight is 0 anyway
    if T == t:
        w = c
        ell = lp if lp is not None else torch.zeros_like(c)
    else:
        # Self-normalized importance weights from the proposal p_t to the target p_T ∝ p_t^(t/T).
        r = t / T - 1
        x = (r * lp).masked_fill(c <= 0, float("-inf"))  # (N, m) log weight per draw, up to a constant
        w = c * torch.exp(x - x.amax(-1, keepdim=True))
        # log Z_T, Z_T = Σ_v p_t(v)^(t/T) = E_{p_t}[p_t^(t/T − 1)], estimated from the draws
        log_z = torch.logsumexp(torch.log(c.clamp_min(torch.finfo(dtype).tiny)) + r * lp, -1, keepdim=True) \
            - torch.log(c.sum(-1, keepdim=True))
        ell = (t / T) * lp - log_z
    p_hat = w / w.sum(-1, keepdim=True)
    return ids, p_hat.detach(), ell.where(p_hat > 0, 0).detach()


def _prepare(student_logits, teacher, labels, ignore_index, T: float = 1.0) -> _Prepared:
    global _warned_teacher_grad
    if isinstance(student_logits, LinearLogits):
        V, lead = student_logits.vocab_size, student_logits.hidden.shape[:-1]
        student = _Linear(student_logits, detach=False)
    else:
        if not isinstance(student_logits, torch.Tensor) or not student_logits.is_floating_point():
            raise ValueError("student_logits must be a floating-point tensor of shape (..., V).")
        if student_logits.dim() < 1 or student_logits.shape[-1] < 1:
            raise ValueError(f"student_logits must have shape (..., V), got {tuple(student_logits.shape)}.")
        V = student_logits.shape[-1]
        lead = student_logits.shape[:-1]
        student = student_logits.reshape(-1, V)
    dense = sparse = sampled = None
    power = 1.0
    if isinstance(teacher, LinearLogits):
        if teacher.vocab_size != V or teacher.hidden.shape[:-1] != lead:
            raise ValueError(f"the teacher's LinearLogits give logits {tuple(teacher.shape)} but the student's are "
                             f"{(*lead, V)}; they must match (slice both weights to the shared vocabulary).")
        dense = _Linear(teacher, detach=True)
    elif isinstance(teacher, SampledTargets):
        sampled = _prepare_sampled(teacher, lead, V, T)
    elif isinstance(teacher, TopKTargets):
        if teacher.indices.shape[:-1] != lead:
            raise ValueError(
                f"TopKTargets cover positions {tuple(teacher.indices.shape[:-1])} but student_logits "
                f"has positions {tuple(lead)}; they must match."
            )
        k = teacher.k
        if k > V:
            raise ValueError(f"TopKTargets has k={k} tokens per position but the student vocabulary has {V}.")
        ids = teacher.indices.reshape(-1, k).long()
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
            raise ValueError(
                f"TopKTargets.indices must lie in [0, {V}) (the student vocabulary size), "
                f"got ids in [{int(ids.min())}, {int(ids.max())}]. Student and teacher vocab sizes differ?"
            )
        logp = teacher.logprobs.reshape(-1, k)
        if torch.isnan(logp).any() or torch.isposinf(logp).any():
            raise ValueError("TopKTargets.logprobs contains NaN or +Inf; log-probabilities must be ≤ 0.")
        if teacher.tail is not None:
            tail = teacher.tail.reshape(-1)
        elif k == V:  # nothing is outside the top k; 1 − Σ p would only add rounding noise
            tail = torch.zeros(logp.shape[0], dtype=logp.dtype, device=logp.device)
        else:
            tail = (1 - logp.double().exp().sum(-1)).clamp_min(0).to(logp.dtype)
        sparse = (ids, logp.detach(), tail.detach())
        power = teacher.temperature / T  # exactly 1 when trained at the capture temperature
    elif isinstance(teacher, torch.Tensor):
        if teacher.shape[-1] != V:
            raise ValueError(
                f"student and teacher vocabulary sizes differ: student_logits has V={V}, "
                f"teacher_logits has V={teacher.shape[-1]}. Slice both to the shared tokenizer "
                "vocabulary (padded embedding rows), or use black-box distillation for different tokenizers."
            )
        if teacher.shape[:-1] != lead:
            raise ValueError(
                f"student_logits {tuple(student_logits.shape)} and teacher_logits "
                f"{tuple(teacher.shape)} must have the same shape."
            )
        if teacher.requires_grad and not _warned_teacher_grad:
            warnings.warn("teacher_logits requires grad; distill losses treat teacher targets as constants.", stacklevel=3)
            _warned_teacher_grad = True
        dense = teacher.detach().reshape(-1, V)
    else:
        raise ValueError(
            f"teacher_logits must be a tensor (..., V), TopKTargets or SampledTargets, got {type(teacher).__name__}."
        )
    rows = None
    if labels is not None:
        if labels.shape != lead:
            raise ValueError(
                f"labels must have shape {tuple(lead)} (student_logits without the vocab axis), "
                f"got {tuple(labels.shape)}."
            )
        keep = labels.reshape(-1) != ignore_index
        if not bool(keep.all()):
            rows = keep.nonzero().squeeze(1)
    return _Prepared(student, dense, sparse, rows, sampled, power)


def _log_softmax(z: torch.Tensor, T: float, ws: _Workspace, name: str) -> torch.Tensor:
    """log_softmax(z / T) in the workspace's dtype, into buffer ``name``. z: (n, V)."""
    out = ws(name, z.shape)
    if z.dtype != ws.dtype:
        # Upcast first, then divide: torch.div(bf16, T, out=fp32) divides in bf16 (8 bits of mantissa)
        # and only then casts, which loses precision at every T ≠ 1.
        z = out.copy_(z)
    if T != 1.0:
        z = torch.div(z, T, out=out)
    return torch.log_softmax(z, -1, out=out)


def _dense_chunk(z_s, z_t, kernel: Kernel, T: float, ws: _Workspace, scale: float, dst):
    """One chunk of dense targets. z_s, z_t: (n, V) logits. Writes scale·∂loss/∂z_s into
    ``dst`` ((n, V) in the compute dtype, or None when no gradient is needed) and returns
    the per-row loss (n,)."""
    s = _log_softmax(z_s, T, ws, "s")  # (n, V) student log-probs
    t = _log_softmax(z_t, T, ws, "t")  # (n, V) teacher log-probs
    q = torch.exp(s, out=ws("q", s.shape))  # (n, V)
    loss, g = kernel(s, t, q, ws)
    if dst is not None:
        # Chain through log_softmax: ∂L/∂z = (g − q Σ g) / T
        g_sum = g.sum(-1, keepdim=True)  # (n, 1)
        torch.addcmul(g, q, g_sum, value=-1, out=dst).mul_(scale / T)
    return loss


def _sparse_chunk(z_s, ids, logp, tail, kernel: Kernel, T: float, ws: _Workspace, scale: float, dst,
                  power: float = 1.0):
    """One chunk of top-k targets. z_s: (n, V); ids, logp: (n, k); tail: (n,). As ``_dense_chunk``.

    ``power`` = t / T re-tempers the teacher's bins from their capture temperature t to T."""
    dtype = ws.dtype
    floor = math.log(torch.finfo(dtype).tiny)  # empty bins (log 0) become log(tiny): 0 · finite, never NaN
    s_full = _log_softmax(z_s, T, ws, "s")  # (n, V)
    q = torch.exp(s_full, out=ws("q", s_full.shape))  # (n, V)
    s_top = s_full.gather(-1, ids)  # (n, k)
    # Student tail bin: Σ of the probabilities outside the top k, summed directly (no 1 − Σ top,
    # which cancels catastrophically when the tail is small).
    q_tail = ws("t", q.shape).copy_(q).scatter_(-1, ids, 0.0).sum(-1, keepdim=True)  # (n, 1)
    s = torch.cat([s_top, q_tail.log()], dim=-1)  # (n, k + 1)
    # Renormalize: in fp32 the k + 1 bins sum to 1 only up to ~V·ε, and the chain rule below
    # (which assumes Σ Q_b = 1) turns that into gradient errors of 1e-3 at large V and small T.
    s = (s - s.logsumexp(-1, keepdim=True)).clamp_min_(floor)
    # Teacher bins: top-k log-probs tempered exactly; the tail as one token (see TopKTargets).
    t = torch.cat([logp.to(dtype), tail.to(dtype).clamp_min(0).log().unsqueeze(-1)], dim=-1)
    if power != 1.0:  # p_T ∝ p_t^(t/T); skipped at T = t so that the targets are used exactly as stored
        t = t * power
    t = (t - t.logsumexp(-1, keepdim=True)).clamp_min_(floor)  # (n, k + 1)
    q_bins = s.exp()
    loss, g = kernel(s, t, q_bins, _Workspace(dtype, s.device))  # (n, k + 1): small, own scratch
    if dst is not None:
        # Chain through the binning: for token v in bin b, ∂s_b/∂z_v = (1[v∈b] q_v/Q_b − q_v) / T.
        g = g.mul_(scale / T)
        g_sum = g.sum(-1, keepdim=True)  # (n, 1)
        tail_scale = g[:, -1:] / q_bins[:, -1:]  # (n, 1); Q_tail ≥ tiny after the floor
        top = g[:, :-1] - q_bins[:, :-1] * g_sum  # top-k tokens: g_v − q_v Σ g
        # Tail tokens: q_v (g_tail / Q_tail − Σ g). Written as (g_tail / Q_tail) Σ_top Q_b − Σ_top g_b
        # (equal because Σ_b Q_b = 1): when the tail holds almost all of the student's mass the direct
        # form subtracts two nearly equal numbers, and in fp32 that costs 1e-3 of relative gradient error.
        tail_factor = tail_scale * q_bins[:, :-1].sum(-1, keepdim=True) - g[:, :-1].sum(-1, keepdim=True)
        torch.mul(q, tail_factor, out=dst).scatter_(-1, ids, top)
    return loss


def _sampled_chunk(z_s, ids, p_hat, ell, T: float, ws: _Workspace, scale: float, dst):
    """One chunk of sampled targets (forward KL only). z_s: (n, V); ids, p_hat, ell: (n, m). As ``_dense_chunk``."""
    s_full = _log_softmax(z_s, T, ws, "s")  # (n, V)
    loss = _zero_nan_(p_hat * (ell - s_full.gather(-1, ids)), ws).sum(-1)  # (n,): Σ p̂ (log p − log q)
    if dst is not None:
        # ∂/∂z = (q − p̂) / T; scatter_add because padding may repeat an id (with weight 0)
        torch.exp(s_full, out=dst).mul_(scale / T).scatter_add_(-1, ids, p_hat.to(dst.dtype) * (-scale / T))
    return loss


# Scratch memory the "auto" chunk size aims for: a chunk's ~6 (rows, V) compute-dtype buffers
# (student and teacher log-probs, q, p, the mixture, the gradient staging) stay within it. On CPU
# that keeps a chunk's working set near the caches and avoids page-faulting fresh multi-megabyte
# buffers; on a GPU fewer, larger chunks keep kernel launches few, and the budget is still small
# next to the B×L×V gradient that every implementation has to hold.
AUTO_CHUNK_BYTES = {"cpu": 64 << 20, "cuda": 1 << 30}
_AUTO_CHUNK_BUFFERS = 6


def auto_chunk_size(vocab_size: int, rows: int, *, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> int | None:
    """The chunk size that ``chunk_size="auto"`` (the default) picks: the most positions whose
    scratch buffers fit ``AUTO_CHUNK_BYTES`` of the device type, at least 1; None (one pass) when
    all ``rows`` positions fit. E.g. fp32 on CPU: 56 positions at V = 49,152, 18 at V = 151,936.

    Args:
        vocab_size: V, the length of each position's logits.
        rows: the number of positions of the call.
        device: where the loss runs; its type ("cpu", "cuda", ...) picks the budget (an
            unknown type gets the CUDA one).
        dtype: the student logits' dtype (fp64 scratch for fp64, fp32 otherwise).

    Returns:
        Positions per chunk (≥ 1), or None when all ``rows`` fit in one pass.
    """
    kind = torch.device(device).type
    budget = AUTO_CHUNK_BYTES.get(kind, AUTO_CHUNK_BYTES["cuda"])
    itemsize = torch.finfo(_compute_dtype(torch.empty(0, dtype=dtype))).bits // 8
    chunk = max(1, budget // (_AUTO_CHUNK_BUFFERS * itemsize * max(vocab_size, 1)))
    return None if chunk >= rows else int(chunk)


def _run(
    student_logits: torch.Tensor,
    teacher,
    labels: torch.Tensor | None,
    ignore_index: int,
    kernel: Kernel,
    temperature: float,
    chunk_size: int | str | None,
    num_items_in_batch: int | None = None,
) -> torch.Tensor:
    _check_temperature(temperature)
    if num_items_in_batch is not None and (isinstance(num_items_in_batch, bool) or int(num_items_in_batch) < 1):
        raise ValueError(f"num_items_in_batch must be a positive count of positions, got {num_items_in_batch!r}.")
    if isinstance(chunk_size, str) and chunk_size == "auto" and isinstance(student_logits, LinearLogits):
        pass  # the fused path picks its own (it also holds the chunk's logits)
    elif isinstance(chunk_size, str) and chunk_size == "auto":
        rows = student_logits.numel() // max(student_logits.shape[-1], 1) if student_logits.dim() else 1
        chunk_size = auto_chunk_size(student_logits.shape[-1] if student_logits.dim() else 1, rows,
                                     device=student_logits.device, dtype=student_logits.dtype)
    elif chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int, 'auto' or None, got {chunk_size!r}.")
    if isinstance(teacher, SampledTargets) and kernel is not _forward_kl_kernel:
        raise ValueError("SampledTargets estimate the forward KL / cross-entropy gradient without bias, and no other "
                         "divergence; use forward_kl (or jsd with beta=0), or top-k or dense targets.")
    if isinstance(student_logits, LinearLogits):
        return _fused(student_logits, teacher, kernel, labels=labels, ignore_index=ignore_index,
                      temperature=temperature, chunk_size=chunk_size, num_items_in_batch=num_items_in_batch).loss
    prep = _prepare(student_logits, teacher, labels, ignore_index, float(temperature))
    denominator = None if num_items_in_batch is None else int(num_items_in_batch)
    return _Divergence.apply(student_logits, prep, kernel, float(temperature), chunk_size, denominator)


class _Divergence(torch.autograd.Function):
    """Chunked divergence with its gradient computed in the forward pass (see module docstring)."""

    @staticmethod
    def forward(ctx, student_logits, prep: _Prepared, kernel, T, chunk_size, denominator=None):
        need_grad = student_logits.requires_grad
        student, dense, sparse, rows = prep.student, prep.dense, prep.sparse, prep.rows
        grad = None
        if need_grad:
            grad = torch.empty_like(student) if rows is None else torch.zeros_like(student)
        total = _evaluate(prep, kernel, T, chunk_size, grad, exact_inf=False, denominator=denominator)
        if not torch.isfinite(total):
            _raise_on_bad_inputs(student, dense, sparse, rows)  # NaN, +inf, or a kept row that is all −inf
            if _has_neginf(student, dense):
                # −inf logits (masked vocabulary rows, top-k/top-p filtered teachers) made 0 · log 0
                # terms NaN: evaluate again with 0 · log 0 = 0. A second pass only in this case keeps
                # the common, finite case free of the extra elementwise pass.
                total = _evaluate(prep, kernel, T, chunk_size, grad, exact_inf=True, denominator=denominator)
            if torch.isnan(total):
                raise ValueError("the divergence is NaN although the inputs hold no NaN or +inf; please report "
                                 "this with the inputs.")
            # +inf remains: the divergence itself is infinite (one side has mass where the other has none,
            # e.g. forward KL where the student's logit is −inf but the teacher's token has probability > 0).
        # save_for_backward (unlike a ctx attribute) frees the B×L×V buffer as soon as a
        # backward without retain_graph has run, even if the caller keeps `loss` around.
        ctx.save_for_backward(grad if grad is not None else torch.empty(0, device=student.device))
        ctx.shape = student_logits.shape
        ctx.has_grad = grad is not None
        n_rows = student.shape[0] if rows is None else rows.numel()
        d = n_rows if denominator is None else denominator
        return total * (1.0 / max(d, 1))  # the masked mean (0 when every row is masked), as in _evaluate

    @staticmethod
    def backward(ctx, grad_output):
        if not ctx.has_grad:
            return None, None, None, None, None, None
        # If this buffer was handed out by an earlier backward (retain_graph) and then
        # modified in place, saved_tensors raises autograd's usual in-place error.
        (grad,) = ctx.saved_tensors
        grad = grad.view(ctx.shape)
        # Skip a B×L×V multiply (and its B×L×V result) in the common case loss.backward(),
        # where grad_output == 1; the check costs one scalar device sync.
        if grad_output.numel() == 1 and float(grad_output) == 1.0:
            return grad, None, None, None, None, None
        return grad * grad_output.to(grad.dtype), None, None, None, None, None


def _evaluate(prep: _Prepared, kernel: Kernel, T: float, chunk_size: int | None, grad,
              exact_inf: bool, denominator: int | None = None, weight: float = 1.0) -> torch.Tensor:
    """Sum over kept rows of the per-row divergence (0-dim, compute dtype); writes weight · scale · ∂/∂logits
    into ``grad`` ((N, V) or None) for the kept rows, or hands each chunk's gradient to it when it is a
    ``_LinearSink`` (the fused path: no (N, V) buffer). ``exact_inf``: see ``_Workspace``."""
    student, dense, sparse, rows, sampled, power = prep
    N, V = student.shape
    dtype = _compute_dtype(student)
    n_rows = N if rows is None else rows.numel()
    total = torch.zeros((), dtype=dtype, device=student.device)
    step = max(n_rows if chunk_size is None else chunk_size, 1)
    ws = _Workspace(dtype, student.device, exact_inf)
    # The masked mean and its all-masked guard, in one place: mean = total · scale,
    # and with no kept rows total = 0, so the loss is 0 (never 0/0) with a zero gradient.
    scale = weight / max(n_rows if denominator is None else denominator, 1)
    sink = grad if isinstance(grad, _LinearSink) else None
    # Write each chunk's gradient straight into the output when rows are contiguous and
    # the dtypes agree; otherwise through a scratch buffer.
    direct = sink is None and rows is None and grad is not None and grad.dtype == dtype
    with torch.no_grad():
        for start in range(0, n_rows, step):
            sel = slice(start, min(start + step, n_rows))
            r = None if rows is None else rows[sel]
            pick = (lambda x: x[sel]) if r is None else (lambda x: x[r])
            z_s = pick(student)
            dst = None
            if grad is not None:
                dst = grad[sel] if direct else ws("grad", z_s.shape)
            if dense is not None:
                loss = _dense_chunk(z_s, pick(dense), kernel, T, ws, scale, dst)
            elif sampled is not None:
                loss = _sampled_chunk(z_s, *(pick(x) for x in sampled), T, ws, scale, dst)
            else:
                ids, logp, tail = (pick(x) for x in sparse)
                loss = _sparse_chunk(z_s, ids, logp, tail, kernel, T, ws, scale, dst, power)
            total += loss.sum()
            if sink is not None:
                sink.write(z_s, sel if r is None else r, dst, ws)
            elif grad is not None and not direct:
                if r is None:
                    grad[sel] = dst
                else:
                    grad.index_copy_(0, r, dst.to(grad.dtype))
    return total


def _has_neginf(student, dense) -> bool:
    return bool(torch.isneginf(student).any()) or (dense is not None and bool(torch.isneginf(dense).any()))


def _raise_on_bad_inputs(student, dense, sparse, rows=None) -> None:
    """Refuse what has no distribution: NaN, +inf, and (in kept rows) logits that are all −inf.
    −inf alone is allowed: it marks a token of probability 0 (masked or filtered vocabulary)."""
    def bad(x):
        return bool(torch.isnan(x).any()) or bool(torch.isposinf(x).any())

    def empty_row(x):
        kept = x if rows is None else x[rows]
        return bool(torch.isneginf(kept).all(-1).any())

    if bad(student):
        raise ValueError("student_logits contains NaN or Inf (+inf or NaN; -inf, a masked token, is allowed); "
                         "check the model's forward pass (fp16 overflow?).")
    if dense is not None and bad(dense):
        raise ValueError("teacher_logits contains NaN or Inf (+inf or NaN; -inf, a masked token, is allowed); "
                         "check the teacher's outputs or the target store.")
    if sparse is not None and not torch.isfinite(sparse[2]).all():
        raise ValueError("TopKTargets.tail contains NaN or Inf.")
    for name, x in (("student_logits", student), ("teacher_logits", dense)):
        if x is not None and empty_row(x):
            raise ValueError(f"{name} has a position whose logits are all -inf (no distribution); mask it with "
                             "labels=ignore_index.")
    # Otherwise the inputs are valid: the caller handles −inf exactly, and an infinite divergence
    # (e.g. reverse KL against top-k targets with zero tail mass) is returned as it is.


# ---------------------------------------------------------------------------------------
# Fused linear path: logits made chunk by chunk from hidden states and the output weight.
# The same ``_evaluate`` loop and chunk functions as above; only where a chunk's logits come
# from (``_Linear``) and where its gradient goes (``_LinearSink``) differ.
# ---------------------------------------------------------------------------------------

# Scratch the fused path's "auto" chunk aims for: the ~6 buffers of the chunk functions plus the
# chunk's student and teacher logits. Larger chunks make the matrix products cheaper per row (each
# chunk reads the weight and reads and writes its gradient, V × H each), so the budget is larger than
# the logits path's: on CPU, 106 positions at V = 49,152 (measured at 4 × 512 × 49,152, H = 576: 61
# positions cost 1.5× the CPU time of 128, and 128 cost 0.09 GiB more peak memory).
FUSED_CHUNK_BYTES = {"cpu": 160 << 20, "cuda": 1 << 30}
_FUSED_CHUNK_BUFFERS = 8


class _Linear:
    """(N, V) logits that exist one chunk at a time: ``x[rows]`` returns hidden[rows] @ weight.T (+ bias)
    in a buffer reused by every chunk (the caller is done with a chunk before asking for the next)."""

    def __init__(self, lin: LinearLogits, detach: bool):
        # Detached always: the teacher is a constant, and the student's gradients are made by hand
        # (``_LinearSink``) and handed to autograd by ``_FusedLinear``, whose inputs are the originals.
        h = lin.hidden.detach().reshape(-1, lin.hidden.shape[-1])
        w, b = lin.weight.detach(), None if lin.bias is None else lin.bias.detach()
        self.hidden, self.weight, self.bias = h, w, b
        # the product runs in the wider of the two dtypes (bf16 hidden states from autocast against fp32
        # weights run in fp32); the weight is cast once per call, not per chunk
        self.mm_dtype = torch.promote_types(h.dtype, w.dtype)
        self.w_mm = w.to(self.mm_dtype)
        self.b_mm = None if b is None else b.to(self.mm_dtype)
        self.shape = torch.Size((h.shape[0], w.shape[0]))
        self.dtype, self.device = self.mm_dtype, h.device
        self._buf = None

    def rows(self, idx) -> torch.Tensor:
        """hidden[idx] in the product's dtype, (n, H)."""
        return self.hidden[idx].to(self.mm_dtype)

    def __getitem__(self, idx) -> torch.Tensor:
        h = self.rows(idx)
        n, V = h.shape[0], self.shape[1]
        if self._buf is None or self._buf.numel() < n * V:
            self._buf = torch.empty(n * V, dtype=self.mm_dtype, device=self.device)
        out = self._buf[: n * V].view(n, V)
        if self.b_mm is None:
            return torch.mm(h, self.w_mm.t(), out=out)  # (n, V)
        return torch.addmm(self.b_mm, h, self.w_mm.t(), out=out)


class _LinearSink:
    """Where the fused path's per-chunk logit gradient goes: into ∂/∂hidden (N, H), ∂/∂weight (V, H) and
    ∂/∂bias (V,), and, with hard labels, the chunk's cross-entropy term first (value and gradient)."""

    def __init__(self, student: _Linear, need_grad: bool, ce_labels: torch.Tensor | None, ce_scale: float,
                 ignore_index: int):
        self.student, self.need_grad = student, need_grad
        self.ce_labels, self.ce_scale, self.ignore_index = ce_labels, ce_scale, ignore_index
        self.ce_total = torch.zeros((), dtype=torch.float64, device=student.device)
        self.grad_hidden = self.grad_weight = self.grad_bias = None
        if need_grad:
            h, w = student.hidden, student.weight
            self.grad_hidden = torch.zeros(h.shape, dtype=h.dtype, device=h.device)
            # accumulated over chunks in at least fp32 (a bf16 sum over many chunks would lose the small ones)
            acc = torch.promote_types(w.dtype, torch.float32)
            self.grad_weight = torch.zeros(w.shape, dtype=acc, device=w.device)
            if student.bias is not None:
                self.grad_bias = torch.zeros(w.shape[0], dtype=acc, device=w.device)

    def write(self, z_s: torch.Tensor, idx, dst: torch.Tensor, ws: _Workspace) -> None:
        """Add the chunk's CE (if any) to ``dst`` (n, V), then push dst through the linear layer."""
        if self.ce_labels is not None:
            self._ce(z_s, self.ce_labels[idx], dst, ws)
        if not self.need_grad:
            return
        g = dst.to(self.student.mm_dtype)  # (n, V)
        h = self.student.rows(idx)  # (n, H)
        gh = torch.mm(g, self.student.w_mm)  # (n, H)
        if isinstance(idx, slice):
            self.grad_hidden[idx] = gh
        else:
            self.grad_hidden.index_copy_(0, idx, gh.to(self.grad_hidden.dtype))
        self.grad_weight.addmm_(g.t().to(self.grad_weight.dtype), h.to(self.grad_weight.dtype))  # (V, H)
        if self.grad_bias is not None:
            self.grad_bias.add_(g.sum(0).to(self.grad_bias.dtype))

    def _ce(self, z_s, y, dst, ws) -> None:
        """Hard-label CE −log softmax(z)_y of the rows with y ≠ ignore_index: the sum into ``ce_total``,
        ce_scale · (softmax(z) − onehot(y)) into ``dst``."""
        keep = y != self.ignore_index  # (n,)
        if not bool(keep.any()):
            return
        z = ws("ce", z_s.shape).copy_(z_s)  # (n, V) in the compute dtype
        lse = torch.logsumexp(z, -1, keepdim=True)  # (n, 1)
        yk = y.clamp_min(0).unsqueeze(-1)  # (n, 1); masked rows weigh 0 below
        w = keep.to(z.dtype).unsqueeze(-1)  # (n, 1)
        self.ce_total += ((lse - z.gather(-1, yk)) * w).sum().to(self.ce_total.dtype)
        p = z.sub_(lse).exp_().mul_(w * self.ce_scale)  # softmax rows, scaled; 0 on masked rows
        dst.add_(p.scatter_add_(-1, yk, -w * self.ce_scale))


class FusedLoss(NamedTuple):
    """What ``fused_linear_loss`` returns: the loss to minimize and its two parts (detached, for logging)."""

    loss: torch.Tensor  # 0-dim: (1 − ce_weight) · divergence + ce_weight · ce, differentiable
    divergence: torch.Tensor  # 0-dim, no gradient
    ce: torch.Tensor  # 0-dim, no gradient (0 when ce_weight = 0 and no ce_labels were given)


class _FusedLinear(torch.autograd.Function):
    """The divergence (plus optional CE) from hidden states and the output weight; the gradients for both
    are computed chunk by chunk in the forward (``_LinearSink``), so backward only scales them."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, prep: _Prepared, kernel, T, chunk_size, denominator, div_weight,
                ce_labels, ce_weight, ce_count, ignore_index):
        need_grad = any(x is not None and x.requires_grad for x in (hidden, weight, bias))
        ce_scale = ce_weight / max(ce_count, 1)
        sink = _LinearSink(prep.student, need_grad, ce_labels, ce_scale, ignore_index)
        # −inf teacher logits (a masked vocabulary) need 0 · log 0 = 0; matmul logits are finite
        exact_inf = isinstance(prep.dense, torch.Tensor) and bool(torch.isneginf(prep.dense).any())
        with torch.autocast(hidden.device.type, enabled=False):
            total = _evaluate(prep, kernel, T, chunk_size, sink, exact_inf, denominator, weight=div_weight)
        if torch.isnan(total) or torch.isnan(sink.ce_total):
            raise ValueError("the fused divergence is NaN: check the hidden states, weights and targets for NaN "
                             "or +inf (fp16 overflow?).")
        n_rows = prep.student.shape[0] if prep.rows is None else prep.rows.numel()
        div = total * (1.0 / max(n_rows if denominator is None else denominator, 1))
        ce = (sink.ce_total / max(ce_count, 1)).to(div.dtype)
        loss = div_weight * div + ce_weight * ce if ce_weight else div.clone()
        empty = torch.empty(0, device=hidden.device)
        ctx.save_for_backward(*(x if x is not None else empty
                                for x in (sink.grad_hidden, sink.grad_weight, sink.grad_bias)))
        ctx.has = (sink.grad_hidden is not None, sink.grad_bias is not None)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        ctx.hidden_shape = hidden.shape
        ctx.mark_non_differentiable(div, ce)
        return loss, div, ce

    @staticmethod
    def backward(ctx, grad_loss, _grad_div, _grad_ce):
        nones = (None,) * 10
        if not ctx.has[0]:
            return None, None, None, *nones
        gh, gw, gb = ctx.saved_tensors
        one = grad_loss.numel() == 1 and float(grad_loss) == 1.0  # skip the multiplies for loss.backward()
        scale = (lambda x, dt: x.to(dt)) if one else (lambda x, dt: (x * grad_loss.to(x.dtype)).to(dt))
        dh, dw, db = ctx.dtypes
        return (scale(gh, dh).view(ctx.hidden_shape), scale(gw, dw),
                scale(gb, db) if ctx.has[1] else None, *nones)


def _fused_chunk_size(V: int, rows: int, device, dtype) -> int | None:
    kind = torch.device(device).type
    budget = FUSED_CHUNK_BYTES.get(kind, FUSED_CHUNK_BYTES["cuda"])
    itemsize = torch.finfo(_compute_dtype(torch.empty(0, dtype=dtype))).bits // 8
    chunk = max(1, budget // (_FUSED_CHUNK_BUFFERS * itemsize * max(V, 1)))
    return None if chunk >= rows else int(chunk)


def _fused(student: LinearLogits, teacher, kernel: Kernel, *, labels, ignore_index, temperature, chunk_size,
           num_items_in_batch, ce_labels=None, ce_weight: float = 0.0) -> FusedLoss:
    """The fused path of every divergence (see ``fused_linear_loss``)."""
    _check_temperature(temperature)
    _check_unit("ce_weight", ce_weight)
    if num_items_in_batch is not None and (isinstance(num_items_in_batch, bool) or int(num_items_in_batch) < 1):
        raise ValueError(f"num_items_in_batch must be a positive count of positions, got {num_items_in_batch!r}.")
    if isinstance(teacher, SampledTargets) and kernel is not _forward_kl_kernel:
        raise ValueError("SampledTargets estimate the forward KL / cross-entropy gradient without bias, and no other "
                         "divergence; use forward_kl (or jsd with beta=0), or top-k or dense targets.")
    prep = _prepare(student, teacher, labels, ignore_index, float(temperature))
    N, V = prep.student.shape
    n_rows = N if prep.rows is None else prep.rows.numel()
    if isinstance(chunk_size, str) and chunk_size == "auto":
        chunk_size = _fused_chunk_size(V, n_rows, student.hidden.device, prep.student.mm_dtype)
    elif chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int, 'auto' or None, got {chunk_size!r}.")
    y, ce_count = None, 0
    if ce_labels is not None:
        if ce_labels.shape != student.hidden.shape[:-1]:
            raise ValueError(f"ce_labels must have shape {tuple(student.hidden.shape[:-1])}, got "
                             f"{tuple(ce_labels.shape)}.")
        y = ce_labels.reshape(-1).long()
        kept = y != ignore_index
        if bool(((y < 0) | (y >= V))[kept].any()):
            raise ValueError(f"ce_labels must lie in [0, {V}) or equal ignore_index={ignore_index}.")
        if prep.rows is not None and bool(kept[labels.reshape(-1) == ignore_index].any()):
            raise ValueError("ce_labels count a position that labels mask: the fused loss evaluates the divergence's "
                             "positions only; mask it in both.")
        ce_count = int(kept.sum())
    elif ce_weight:
        raise ValueError(f"ce_weight={ce_weight} needs ce_labels (the next-token ids, ignore_index where not counted).")
    denominator = None if num_items_in_batch is None else int(num_items_in_batch)
    loss, div, ce = _FusedLinear.apply(student.hidden, student.weight, student.bias, prep, kernel,
                                       float(temperature), chunk_size, denominator, 1.0 - ce_weight, y,
                                       float(ce_weight), ce_count, ignore_index)
    return FusedLoss(loss, div, ce)


def fused_linear_loss(divergence: str, student: LinearLogits, teacher, *, temperature: float = 1.0, labels=None,
                      ignore_index: int = -100, chunk_size: int | str | None = "auto", num_items_in_batch=None,
                      ce_labels=None, ce_weight: float = 0.0, **params) -> FusedLoss:
    """A divergence of ``DIVERGENCES`` (optionally mixed with hard-label CE) from hidden states and the
    output weight, without ever building the (..., V) logits or their gradient.

        loss = (1 − ce_weight) · D(teacher ‖ student) + ce_weight · CE(student, ce_labels)

    The positions are processed chunk by chunk: each chunk's logits are ``hidden @ weight.T``, the
    divergence's chunk function (the same code as the logits path) gives the loss and its logit gradient,
    and that gradient goes straight into the gradients for hidden, weight and bias. Peak memory is the
    chunk's scratch plus those gradients (which training holds anyway); values and gradients equal the
    logits path's (``DIVERGENCES[divergence](hidden @ weight.T, teacher, ...)``) to float rounding.
    Memory note: hard labels use the same chunk (no second pass), as Liger's fused losses do.

    Args:
        divergence: a name of ``DIVERGENCES`` ("forward_kl", "jsd", ...).
        student: ``LinearLogits`` of the student: hidden (..., H), weight (V, H), optional bias (V,).
        teacher: dense teacher logits (..., V), ``LinearLogits`` of the teacher (its logits are made chunk
            by chunk as well), ``TopKTargets`` or ``SampledTargets``. No gradient flows to the teacher.
        temperature: T > 0 of the divergence (the CE term is at temperature 1). No T² factor.
        labels: optional (...) int64; positions equal to ``ignore_index`` are skipped by both terms.
        ignore_index: label value that marks skipped positions (default -100).
        chunk_size: positions per chunk; "auto" picks it from V and ``FUSED_CHUNK_BYTES``; None: one pass.
        num_items_in_batch: divide the summed divergence by this count instead of the kept positions.
        ce_labels: optional (...) int64 next-token ids for the CE term (``ignore_index`` where not counted;
            only positions the divergence keeps may be counted). The CE is their mean.
        ce_weight: weight of the CE term, in [0, 1]; > 0 needs ``ce_labels``.
        **params: the divergence's settings (``beta``, ``skew``; see the registry entry's ``params``).

    Returns:
        ``FusedLoss(loss, divergence, ce)``: 0-dim float32 tensors; only ``loss`` carries a gradient.

    Raises:
        ValueError: an unknown divergence or parameter, shapes that do not fit, a parameter out of range,
            or a NaN result.
    """
    entry = DIVERGENCES.get(divergence)
    if entry is None:
        raise ValueError(f"unknown divergence {divergence!r}; choose one of {sorted(DIVERGENCES)}.")
    unknown = set(params) - set(entry.params)
    if unknown:
        raise ValueError(f"{divergence} takes the settings {list(entry.params)}, got {sorted(unknown)}.")
    if not isinstance(student, LinearLogits):
        raise ValueError(f"fused_linear_loss needs the student as LinearLogits(hidden, weight), got "
                         f"{type(student).__name__}; for logits call DIVERGENCES[{divergence!r}] directly.")
    return _fused(student, teacher, entry.make_kernel(**params), labels=labels, ignore_index=ignore_index,
                  temperature=temperature, chunk_size=chunk_size, num_items_in_batch=num_items_in_batch,
                  ce_labels=ce_labels, ce_weight=ce_weight)


# ---------------------------------------------------------------------------------------
# Public losses
# ---------------------------------------------------------------------------------------

_SHARED_ARGS = """\
        student_logits: (..., V) float tensor (any float dtype), requires grad for training.
        teacher_logits: (..., V) float tensor of teacher logits, or ``TopKTargets`` with
            (..., k) ids and log-probs (see its docstring for how sparse targets and
            temperature are handled). No gradient flows to the teacher. ``SampledTargets``
            are taken by forward KL (and JSD at β = 0) only.
        temperature: T > 0; both distributions are softmax(logits / T). No T² factor.
        labels: optional (...) int64; positions equal to ``ignore_index`` are skipped.
        ignore_index: label value that marks padding (default -100).
        chunk_size: evaluate this many positions at a time. "auto" (the default) picks it
            from V and a scratch-memory budget (``auto_chunk_size``); None evaluates all
            positions in one pass (scratch memory of several B×L×V tensors). Results and
            gradients equal the unchunked ones; peak memory is bounded by the chunk.
        num_items_in_batch: divide the summed divergence by this count instead of the number
            of kept positions here: with gradient accumulation, pass the kept positions of the
            whole optimizer batch so that every token weighs the same whatever micro-batch it
            fell in (transformers' ``num_items_in_batch``).
"""

_SHARED_SECTIONS = """
    Returns:
        0-dim float32 tensor (float64 for float64 input): mean over kept positions of
        the per-position divergence summed over the vocabulary (or its sum over
        ``num_items_in_batch``); 0 when every position is masked.

    Raises:
        ValueError: vocabulary sizes or shapes differ, NaN or +inf in the inputs, a kept
            position whose logits are all -inf, or a parameter outside its range (the
            message names it). -inf logits (masked or filtered tokens) are handled exactly:
            0 · log 0 = 0, and the divergence is +inf only where one side has mass the
            other gives none (e.g. forward KL where the teacher's token has the student's -inf).
"""


def forward_kl(student_logits, teacher_logits, *, temperature=1.0, labels=None, ignore_index=-100, chunk_size="auto",
               num_items_in_batch=None):
    """Forward KL(p ‖ q) = Σ_v p_v (log p_v − log q_v): mode-covering, the classic KD objective.
    """
    return _run(student_logits, teacher_logits, labels, ignore_index, _forward_kl_kernel, temperature, chunk_size,
                num_items_in_batch)


def reverse_kl(student_logits, teacher_logits, *, temperature=1.0, labels=None, ignore_index=-100, chunk_size="auto",
               num_items_in_batch=None):
    """Reverse KL(q ‖ p) = Σ_v q_v (log q_v − log p_v): mode-seeking (MiniLLM's objective, here as a direct loss).
    """
    return _run(student_logits, teacher_logits, labels, ignore_index, _reverse_kl_kernel, temperature, chunk_size,
                num_items_in_batch)


def generalized_jsd(
    student_logits, teacher_logits, *, beta=0.5, temperature=1.0, labels=None, ignore_index=-100, chunk_size="auto",
    num_items_in_batch=None,
):
    """Generalized Jensen–Shannon divergence of GKD (Agarwal et al. 2024, eq. 1).

    With the mixture m = (1 − β) q + β p:

        JSD_β = β KL(p ‖ m) + (1 − β) KL(q ‖ m),   0 < β < 1.

    The end points follow TRL's convention rather than the (zero) limit of the formula:
    β = 0 gives forward KL(p ‖ q) and β = 1 gives reverse KL(q ‖ p). β = 0.5 is the
    symmetric JSD, bounded by log 2.

    Args:
        beta: in [0, 1].
    """
    return _run(student_logits, teacher_logits, labels, ignore_index, _gjsd_kernel(beta), temperature, chunk_size,
                num_items_in_batch)


def skew_kl(
    student_logits,
    teacher_logits,
    *,
    skew=0.1,
    reverse=False,
    temperature=1.0,
    labels=None,
    ignore_index=-100,
    chunk_size="auto",
    num_items_in_batch=None,
    alpha=None,
):
    """Skew KL of DistiLLM (Ko et al. 2024): KL against a mixture, which keeps gradients bounded.

        forward (reverse=False):  SKL_α  = KL(p ‖ α p + (1 − α) q)
        reverse (reverse=True):   SRKL_α = KL(q ‖ α q + (1 − α) p)

    with α = ``skew``; 0 recovers forward / reverse KL; DistiLLM uses 0.1.

    Args:
        skew: the mixture weight α, in [0, 1).
        reverse: choose SRKL instead of SKL.
        alpha: the old name of ``skew`` (deprecated; accepted until distill 0.3).
    """
    skew = _renamed_arg("skew_kl", "alpha", alpha, "skew", skew, default=0.1)
    kernel = _skew_kernel(skew, reverse)
    return _run(student_logits, teacher_logits, labels, ignore_index, kernel, temperature, chunk_size,
                num_items_in_batch)


def tvd(student_logits, teacher_logits, *, temperature=1.0, labels=None, ignore_index=-100, chunk_size="auto",
        num_items_in_batch=None):
    """Total variation distance ½ Σ_v |q_v − p_v|, in [0, 1]. Its gradient uses sign(0) = 0.
    """
    return _run(student_logits, teacher_logits, labels, ignore_index, _tvd_kernel, temperature, chunk_size,
                num_items_in_batch)


def _add_shared_doc(fn) -> None:
    """Put ``_SHARED_ARGS`` first in ``fn``'s own ``Args:`` section (or add the section), then
    ``_SHARED_SECTIONS`` at the end."""
    doc = fn.__doc__.rstrip() + "\n"
    if "\n    Args:\n" in doc:
        doc = doc.replace("\n    Args:\n", "\n    Args:\n" + _SHARED_ARGS, 1)
    else:
        doc += "\n    Args:\n" + _SHARED_ARGS
    fn.__doc__ = doc + _SHARED_SECTIONS


for _fn in (forward_kl, reverse_kl, generalized_jsd, skew_kl, tvd):
    _add_shared_doc(_fn)


def hinton_kd(student_logits, teacher_logits, labels, *, temperature, ce_weight=None, ignore_index=-100,
              chunk_size="auto", alpha=None):
    """Hinton, Vinyals & Dean (2015) distillation loss for classifiers.

        L = α · CE(z_s, y) + (1 − α) · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)),  α = ce_weight

    α weighs the hard-label term (as in the seeds' reference code; Hinton used a small
    weight on it). T² keeps the soft term's gradient scale independent of T, since its
    gradient shrinks as 1/T².

    Args:
        student_logits: (..., C) float logits.
        teacher_logits: (..., C) float logits, or ``TopKTargets``.
        labels: (...) int64 class ids; ``ignore_index`` positions are skipped by both
            terms. May be None only when α = 0.
        temperature: T > 0.
        ce_weight: weight α of the hard-label cross-entropy, in [0, 1] (required).
        ignore_index: label value that marks positions to skip (default -100).
        chunk_size: passed to the KL term ("auto", an int, or None).
        alpha: the old name of ``ce_weight`` (deprecated; accepted until distill 0.3).

    Returns:
        0-dim float32 tensor.

    Raises:
        TypeError: neither ``ce_weight`` nor ``alpha`` is given, or both are.
        ValueError: ``temperature`` or ``ce_weight`` out of range, ``labels`` None while
            ``ce_weight`` > 0, or what ``forward_kl`` refuses.
    """
    w = _renamed_arg("hinton_kd", "alpha", alpha, "ce_weight", ce_weight, default=None)
    if w is None:
        raise TypeError("hinton_kd() needs ce_weight, the weight of the hard-label cross-entropy in [0, 1].")
    _check_temperature(temperature)
    _check_unit("ce_weight", w)
    if labels is None and w != 0:
        raise ValueError(f"hinton_kd needs labels when ce_weight > 0 (ce_weight={w}); pass ce_weight=0 for soft "
                         "targets only.")
    soft = forward_kl(
        student_logits, teacher_logits, temperature=temperature, labels=labels,
        ignore_index=ignore_index, chunk_size=chunk_size,
    )
    loss = (1 - w) * temperature**2 * soft
    if w > 0:
        C = student_logits.shape[-1]
        flat_labels = labels.reshape(-1)
        if bool((flat_labels != ignore_index).any()):
            hard = F.cross_entropy(
                student_logits.reshape(-1, C).float(), flat_labels, ignore_index=ignore_index
            )
            loss = loss + w * hard
    return loss


def _renamed_arg(fn: str, old: str, old_value, new: str, new_value, *, default):
    """The value of a renamed keyword argument: the new one, or the old one with a DeprecationWarning."""
    if old_value is None:
        return new_value
    if new_value is not None and new_value != default:
        raise TypeError(f"{fn}() got both {new}= and its old name {old}=; pass {new}= only.")
    warnings.warn(f"{fn}({old}=…) is now {fn}({new}=…); the old name is accepted until distill 0.3.",
                  DeprecationWarning, stacklevel=3)
    return old_value


def mix_teachers(teacher_logits: list[torch.Tensor], *, temperature: float, weights=None) -> torch.Tensor:
    """Logits whose tempered softmax is the weighted mixture of several teachers' tempered softmaxes.

    Returns ``T · log Σ_i w_i softmax(z_i / T)``, shape (..., C): passed as teacher logits
    at the same temperature T, it yields exactly the mixture (the multi-teacher soft
    target), at every T. Weights default to uniform and are normalized to sum to 1.

    Args:
        teacher_logits: the teachers' logits, each (..., C), all the same shape.
        temperature: T > 0.
        weights: one non-negative weight per teacher, with a positive sum (None: uniform).

    Returns:
        (..., C) float32 mixture logits.

    Raises:
        ValueError: no teachers, differing shapes, bad weights, or ``temperature`` not a
            finite number > 0.
    """
    _check_temperature(temperature)
    if not teacher_logits:
        raise ValueError("mix_teachers needs at least one teacher's logits.")
    shapes = {tuple(z.shape) for z in teacher_logits}
    if len(shapes) != 1:
        raise ValueError(f"all teachers' logits must have the same shape, got {sorted(shapes)}.")
    n = len(teacher_logits)
    w = torch.full((n,), 1.0 / n) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (n,) or (w < 0).any() or float(w.sum()) <= 0:
        raise ValueError(f"weights must be {n} non-negative numbers with a positive sum, got {weights!r}.")
    if n == 1:  # the mixture of one teacher is that teacher: its logits as they are, bit for bit (recomputing
        # them as T·log_softmax(z/T) changes the rounding, which moves every figure trained from them)
        return teacher_logits[0]
    w = (w / w.sum()).float().to(teacher_logits[0].device)
    logp = torch.stack([(z.float() / temperature).log_softmax(-1) for z in teacher_logits])  # (n, ..., C)
    log_w = w.log().view(n, *([1] * (logp.dim() - 1)))
    return temperature * torch.logsumexp(logp + log_w, dim=0)


@dataclass(frozen=True)
class DivergenceEntry:
    """One divergence of the registry: the function, the settings it takes (names of `distill lm train`
    options, passed under the same keyword), and what it accepts. Calling the entry calls the function."""

    fn: Callable[..., torch.Tensor]
    summary: str
    kernel: Callable[..., Kernel]  # params (and fixed) → the per-chunk kernel ``fn`` runs; the fused path uses it
    params: tuple[str, ...] = ()
    sampled_targets: bool = False  # SampledTargets estimate the forward-KL gradient only
    fixed: dict = field(default_factory=dict)  # keywords the entry always passes (skew_rkl: reverse=True)

    def __call__(self, student_logits, teacher_logits, **kw) -> torch.Tensor:
        return self.fn(student_logits, teacher_logits, **self.fixed, **kw)

    def make_kernel(self, **params) -> Kernel:
        """The kernel at these settings (only the entry's own ``params`` are read; others are ignored)."""
        return self.kernel(**{k: v for k, v in params.items() if k in self.params}, **self.fixed)


_DIVERGENCES = {
    "forward_kl": DivergenceEntry(forward_kl, "KL(p ‖ q): mean-seeking, the classic KD loss",
                                  lambda: _forward_kl_kernel, sampled_targets=True),
    "reverse_kl": DivergenceEntry(reverse_kl, "KL(q ‖ p): mode-seeking (MiniLLM)", lambda: _reverse_kl_kernel),
    "jsd": DivergenceEntry(generalized_jsd, "generalized JSD of GKD, β from forward (0) to reverse (1) KL",
                           _gjsd_kernel, params=("beta",)),
    "skew_kl": DivergenceEntry(skew_kl, "DistiLLM's skew KL, KL(p ‖ α p + (1 − α) q), α = skew", _skew_kernel,
                               params=("skew",)),
    "skew_rkl": DivergenceEntry(skew_kl, "DistiLLM's skew reverse KL, KL(q ‖ α q + (1 − α) p)", _skew_kernel,
                                params=("skew",), fixed={"reverse": True}),
    "tvd": DivergenceEntry(tvd, "total variation distance, in [0, 1]", lambda: _tvd_kernel),
}

# The one list of divergences: `distill lm train --loss`, the `Divergence` Literal (lm/names.py, kept in step by
# a test), `distill list divergences` and the README table all read it.
DIVERGENCES: Registry[DivergenceEntry] = Registry(
    "divergence", {name: Described(e, e.summary) for name, e in _DIVERGENCES.items()},
    where=("lm train --loss", "lm quickstart --loss", "docs train --loss"))


def feature_kd(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], names, *,
               weights=None) -> torch.Tensor:
    """Feature (hint) distillation: the weighted sum over named layers of the MSE between student and
    teacher activations (FitNets hints without a projection; BK-SDM's per-block feature KD).

    Args:
        student: layer name → (B, ...) student activations (e.g. what forward hooks collected).
        teacher: layer name → activations of the same shapes; constants (no gradient flows to them).
        names: the layers to match, each a key of both dicts.
        weights: one weight per name (default: 1 each).

    Returns:
        0-dim float32 loss: Σ_l w_l · mean((student[l] − teacher[l])²); 0 for identical activations.

    Raises:
        KeyError: a name is missing from either dict.
        ValueError: shapes of a pair differ, or ``weights`` is not one per name.
    """
    names = list(names)
    weights = [1.0] * len(names) if weights is None else list(weights)
    if len(weights) != len(names):
        raise ValueError(f"feature_kd: {len(weights)} weights for {len(names)} layers {names}.")
    total = None
    for name, w in zip(names, weights, strict=True):
        for side, d in (("student", student), ("teacher", teacher)):
            if name not in d:
                raise KeyError(f"feature_kd: layer {name!r} is missing from the {side} activations {sorted(d)}.")
        s, t = student[name], teacher[name]
        if s.shape != t.shape:
            raise ValueError(f"feature_kd: layer {name!r} has student shape {tuple(s.shape)} but teacher shape "
                             f"{tuple(t.shape)}; match layers of equal width (or project the student's first).")
        term = w * F.mse_loss(s.float(), t.detach().float())
        total = term if total is None else total + term
    return total if total is not None else torch.zeros((), dtype=torch.float32)

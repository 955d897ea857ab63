"""Cross-tokenizer distillation losses: ULD and the hybrid (aligned spans, exact where tokens are shared).

When teacher and student tokenize differently, their next-token distributions live on different
vocabularies and different positions. Two answers, both pure functions over tensors:

* ``uld``: Universal Logit Distillation (Boizard et al., TMLR 2025). Per position, the Wasserstein-1
  distance between the two distributions under a cost that ignores token identity, in closed form:
  sort both probability vectors in decreasing order, pad the shorter with zeros, and sum the absolute
  differences, ``Σ_i |p_(i) − q_(i)|``. It needs the i-th teacher position to face the i-th student
  position (the paper's setting: the same answer text, positions compared in order).
* ``hybrid``: align the two tokenizations of the same text by character offsets into *spans*, the
  stretches between the boundaries both tokenizations share (``align_spans``); merge each side's
  probabilities over a span into one vector (``merge_spans``: the distribution of the span's first
  token times the conditional probabilities of its later tokens, so the observed span gets its joint
  probability); then compare the merged vectors exactly on the tokens whose strings exist in both
  vocabularies (``shared_vocab``), with the generalized KL Σ a log(a/b) − a + b, and by ULD on the
  rest. For one tokenizer on both sides every span is one token, every token is shared and the rest
  is empty: the hybrid loss is then the forward KL of ``distill.losses`` exactly.

Row convention: ``logits[k]`` is the prediction *for token k* (what a causal LM outputs at position
k − 1); the caller shifts. Spans that begin at a token without a prediction are the caller's to drop.

Stored teachers (``CrossTargets``: a target store captured once, ``distill lm capture --targets-kind cross``)
are known only by their top k per position, the mass of the rest and the log-probability of the token
that came next. ``uld_topk`` and ``hybrid_topk`` are the two losses against such a teacher: the top k
enter exactly as above, the unknown rest as one bucket of mass (compared by its total, which is the
closest the sorted distance can get to it: |Σ rest_t − Σ rest_s| ≤ Σ |rest_t,(i) − rest_s,(i)|).
With k = the teacher's vocabulary both equal ``uld`` / ``hybrid`` of the live teacher.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["uld", "align_spans", "merge_spans", "shared_vocab", "hybrid", "CrossTargets", "uld_topk", "hybrid_topk"]


def _tempered_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    return (logits.to(dtype) / temperature).softmax(-1)


def _check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and temperature > 0 and temperature < float("inf")):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}.")


def _sorted_w1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Σ_i |a_(i) − b_(i)| per row of two (n, ·) non-negative tensors sorted in decreasing order, the
    shorter padded with zeros. Returns (n,)."""
    width = max(a.shape[-1], b.shape[-1])
    a = torch.nn.functional.pad(a, (0, width - a.shape[-1]))
    b = torch.nn.functional.pad(b, (0, width - b.shape[-1]))
    return (a.sort(-1, descending=True).values - b.sort(-1, descending=True).values).abs().sum(-1)


def uld(student_logits: torch.Tensor, teacher_logits: torch.Tensor, *, temperature: float = 1.0,
        labels: torch.Tensor | None = None, ignore_index: int = -100) -> torch.Tensor:
    """Universal Logit Distillation loss (Boizard et al., TMLR 2025, eq. 4–5), mean over kept positions.

        ULD(p, q) = Σ_i |p_(i) − q_(i)|,   p_(1) ≥ p_(2) ≥ …  (the shorter vocabulary padded with zeros)

    with p = softmax(teacher_logits / T), q = softmax(student_logits / T). It is the Wasserstein-1
    distance between the two distributions when moving mass between any two tokens costs the same,
    solved in closed form by matching the sorted probabilities; equivalently, with n the padded size,
    n × the 1-D Wasserstein distance between the n probability values of each side
    (``scipy.stats.wasserstein_distance(p, q)``). It ignores which token is which, so it works across
    vocabularies; in [0, 2]. No T² factor.

    Args:
        student_logits: (..., Vs) float logits; the gradient flows to them (through the sort).
        teacher_logits: (..., Vt) float logits, the same leading shape; Vt may differ from Vs.
        temperature: T > 0 for both sides.
        labels: optional (...) int64; positions equal to ``ignore_index`` are skipped.
        ignore_index: label value that marks skipped positions (default -100).

    Returns:
        0-dim float32 tensor (float64 for float64 input): the mean over kept positions (0 when none).

    Raises:
        ValueError: leading shapes differ, or ``temperature`` is not a finite number > 0.
    """
    _check_temperature(temperature)
    if student_logits.shape[:-1] != teacher_logits.shape[:-1]:
        raise ValueError(f"student_logits {tuple(student_logits.shape)} and teacher_logits "
                         f"{tuple(teacher_logits.shape)} must have the same positions (leading shape).")
    q = _tempered_probs(student_logits.reshape(-1, student_logits.shape[-1]), temperature)
    p = _tempered_probs(teacher_logits.detach().reshape(-1, teacher_logits.shape[-1]), temperature)
    if labels is not None:
        keep = labels.reshape(-1) != ignore_index
        q, p = q[keep], p[keep]
    if q.shape[0] == 0:
        return q.sum() * 0.0
    return _sorted_w1(q, p).mean()


def align_spans(offsets_a, offsets_b) -> list[tuple[int, int, int, int]]:
    """Align two tokenizations of the same text: the spans between the boundaries both share.

    Walks the tokens' end offsets; a span closes where both sides end a token at the same character.
    A remainder that never reaches a shared boundary (one side's text runs longer) is dropped.

    Args:
        offsets_a: side A's (start, end) character offsets, one per token, in text order.
        offsets_b: side B's, over the same text.

    Returns:
        [(a0, a1, b0, b1), ...]: span s covers A's tokens a0 … a1 − 1 and B's tokens b0 … b1 − 1.
        E.g. "the cat" as ["the", " cat"] and ["th", "e", " c", "at"]: [(0, 1, 0, 2), (1, 2, 2, 4)].

    Raises:
        ValueError: the two sides do not start at the same character, or offsets go backwards.
    """
    ends_a = [int(e) for _, e in offsets_a]
    ends_b = [int(e) for _, e in offsets_b]
    for name, ends in (("offsets_a", ends_a), ("offsets_b", ends_b)):
        if any(y < x for x, y in zip(ends, ends[1:], strict=False)):
            raise ValueError(f"{name}: end offsets must not decrease (tokens in text order).")
    if offsets_a and offsets_b and int(offsets_a[0][0]) != int(offsets_b[0][0]):
        raise ValueError(f"the tokenizations start at characters {int(offsets_a[0][0])} and "
                         f"{int(offsets_b[0][0])}; align the same text from the same start.")
    spans, i, j = [], 0, 0
    while i < len(ends_a) and j < len(ends_b):
        i0, j0 = i, j
        ea, eb = ends_a[i], ends_b[j]
        i, j = i + 1, j + 1
        while ea != eb:
            if ea < eb:
                if i == len(ends_a):
                    return spans
                ea, i = ends_a[i], i + 1
            else:
                if j == len(ends_b):
                    return spans
                eb, j = ends_b[j], j + 1
        spans.append((i0, i, j0, j))
    return spans


def merge_spans(logp: torch.Tensor, ids: torch.Tensor, spans: list[tuple[int, int]]) -> torch.Tensor:
    """Log of each span's merged probability vector: the first token's distribution times the
    conditional probabilities of the span's later (observed) tokens.

        m_s(v) = p(v | prefix) · Π_{k = k0+1}^{k1−1} p(x_k | prefix, x_{k0} … x_{k−1})

    so m_s(x_{k0}) is the joint probability of the observed span, and the other entries keep their
    ratios to it (an unnormalized vector: Σ_v m_s(v) = the product of the later conditionals ≤ 1).

    Args:
        logp: (n, V) log-probabilities; row k is the prediction for token k.
        ids: (n,) int64 observed token ids.
        spans: [(k0, k1), ...] token ranges, k0 < k1 ≤ n.

    Returns:
        (len(spans), V) merged log-probabilities (differentiable in ``logp``).
    """
    if not spans:
        return logp[:0]
    first = torch.tensor([k0 for k0, _ in spans], device=logp.device)
    observed = logp.gather(-1, ids.long().unsqueeze(-1)).squeeze(-1)  # (n,) log p(x_k | ·)
    return logp[first] + _later(observed, spans).unsqueeze(-1)


def _later(observed: torch.Tensor, spans) -> torch.Tensor:
    """Per span (k0, k1), Σ_{k0 < k < k1} observed[k]: the log of its later tokens' conditional probabilities. (G,)"""
    later = torch.zeros(len(spans), dtype=observed.dtype, device=observed.device)
    rows = [(s, k) for s, (k0, k1) in enumerate(spans) for k in range(k0 + 1, k1)]
    if rows:
        seg = torch.tensor([s for s, _ in rows], device=observed.device)
        pos = torch.tensor([k for _, k in rows], device=observed.device)
        later = later.index_add(0, seg, observed[pos])
    return later


def shared_vocab(tokens_a: list[str], tokens_b: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids whose strings exist in both vocabularies, paired: (ids in A, ids in B).

    Strings are compared exactly (decode them first, e.g. with ``tokenizer.convert_tokens_to_string``,
    when the two tokenizers mark spaces differently: "Ġcat" and "▁cat" are both " cat"). Where a side
    holds one string under several ids, its lowest id is used. Pairs are sorted by A's id.

    Args:
        tokens_a: A's token string of each id (index = id).
        tokens_b: B's.

    Returns:
        (ids_a, ids_b), two (P,) int64 tensors.
    """
    first_b: dict[str, int] = {}
    for j, s in enumerate(tokens_b):
        first_b.setdefault(s, j)
    seen: set[str] = set()
    pairs = []
    for i, s in enumerate(tokens_a):
        if s in first_b and s not in seen:
            seen.add(s)
            pairs.append((i, first_b[s]))
    a = torch.tensor([i for i, _ in pairs], dtype=torch.long)
    b = torch.tensor([j for _, j in pairs], dtype=torch.long)
    return a, b


def hybrid(student_logits: torch.Tensor, teacher_logits: torch.Tensor, student_ids: torch.Tensor,
           teacher_ids: torch.Tensor, spans: list[tuple[int, int, int, int]],
           vocab: tuple[torch.Tensor, torch.Tensor], *, temperature: float = 1.0) -> torch.Tensor:
    """Hybrid cross-tokenizer loss over aligned spans: exact on shared tokens, ULD on the rest.

    For each span, both sides' merged vectors m_t (teacher) and m_s (student) (``merge_spans``, at
    temperature T) are split into the shared tokens (``vocab`` pairs, compared token by token) and the
    rest (compared as sorted vectors):

        L_span = Σ_{(i, j) shared} [a_j log(a_j / b_i) − a_j + b_i] + Σ_k |r_t,(k) − r_s,(k)|

    with a = m_t on the teacher's shared ids, b = m_s on the student's, r the remaining entries of each.
    The first sum is the generalized KL of unnormalized vectors (≥ 0, 0 only when equal); when all
    tokens are shared and spans are single tokens it is KL(p ‖ q) and the second sum is empty, so the
    loss is the forward KL of ``distill.losses.forward_kl`` exactly. Returns the mean over spans.

    Args:
        student_logits: (n_s, Vs) float logits; row k predicts student token k.
        teacher_logits: (n_t, Vt) float logits; row k predicts teacher token k. No gradient.
        student_ids: (n_s,) int64 observed student tokens.
        teacher_ids: (n_t,) int64 observed teacher tokens.
        spans: ``align_spans(student offsets, teacher offsets)`` (rows without a prediction left out).
        vocab: ``shared_vocab(student strings, teacher strings)``: (student ids, teacher ids), (P,) each.
        temperature: T > 0 for both sides.

    Returns:
        0-dim float32 tensor (float64 for float64 input); 0 when there are no spans.

    Raises:
        ValueError: ``temperature`` is not a finite number > 0.
    """
    _check_temperature(temperature)
    dtype = torch.float64 if student_logits.dtype == torch.float64 else torch.float32
    if not spans:
        return student_logits.sum().to(dtype) * 0.0
    ls = (student_logits.to(dtype) / temperature).log_softmax(-1)
    lt = (teacher_logits.detach().to(dtype) / temperature).log_softmax(-1)
    ms = merge_spans(ls, student_ids, [(a0, a1) for a0, a1, _, _ in spans])  # (G, Vs)
    mt = merge_spans(lt, teacher_ids, [(b0, b1) for _, _, b0, b1 in spans])  # (G, Vt)
    s_ids, t_ids = (x.to(student_logits.device) for x in vocab)
    log_b, log_a = ms[:, s_ids], mt[:, t_ids]  # (G, P)
    a = log_a.exp()
    exact = (a * (log_a - log_b) - a + log_b.exp()).sum(-1)  # (G,)
    rest_s = _drop_columns(ms, s_ids).exp()
    rest_t = _drop_columns(mt, t_ids).exp()
    loss = exact
    if rest_s.shape[-1] or rest_t.shape[-1]:
        loss = loss + _sorted_w1(rest_s, rest_t)
    return loss.mean()


def _drop_columns(x: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    keep = torch.ones(x.shape[-1], dtype=torch.bool, device=x.device)
    keep[cols] = False
    return x[:, keep]


@dataclass
class CrossTargets:
    """A teacher of another tokenizer as a store keeps it, one row per teacher prediction.

    Row k is the prediction *for teacher token k* (the row convention above), at the capture temperature.

    Attributes:
        indices: (n, k) int64 the teacher's k most likely token ids, in any order.
        logprobs: (n, k) float their log-probabilities.
        tail: (n,) float log of the mass outside the top k (−inf when nothing is left).
        observed: (n,) float log-probability of the token that did come (``teacher_ids[k]``), whether or
            not it is in the top k: what ``merge_spans`` multiplies in for a span's later tokens.
        temperature: the capture temperature (the log-probabilities are already tempered).
    """

    indices: torch.Tensor
    logprobs: torch.Tensor
    tail: torch.Tensor
    observed: torch.Tensor
    temperature: float = 1.0

    @property
    def k(self) -> int:
        return self.indices.shape[-1]

    def to(self, device) -> "CrossTargets":
        """The same targets on ``device``.

        Args:
            device: a torch device or its name.

        Returns:
            A new ``CrossTargets``.
        """
        return CrossTargets(self.indices.to(device), self.logprobs.to(device), self.tail.to(device),
                            self.observed.to(device), self.temperature)


def _head_and_rest(p_head: torch.Tensor, log_tail_t: torch.Tensor, rest_s: torch.Tensor) -> torch.Tensor:
    """Sorted distance between a teacher known by (G, k) entries plus a tail bucket of log-mass (G,) and a
    student vector (G, Vs): the k largest of each compared in order, the rest by total mass. Returns (G,)."""
    k = p_head.shape[-1]
    top_s = rest_s.topk(min(k, rest_s.shape[-1]), dim=-1).values
    top_s = torch.nn.functional.pad(top_s, (0, k - top_s.shape[-1]))
    head = (p_head.sort(-1, descending=True).values - top_s).abs().sum(-1)
    left_s = (rest_s.sum(-1) - top_s.sum(-1)).clamp_min(0)
    return head + (log_tail_t.exp() - left_s).abs()


def uld_topk(student_logits: torch.Tensor, teacher: CrossTargets, *, temperature: float = 1.0) -> torch.Tensor:
    """ULD against a stored teacher (its top k and tail mass), mean over positions.

        ULD_k(p, q) = Σ_{i ≤ k} |p_(i) − q_(i)| + |Σ_{i > k} p_(i) − Σ_{i > k} q_(i)|

    the first k sorted probabilities compared in order, the rest by their total (a lower bound of their
    sorted distance, so ULD_k ≤ ULD; equal when k covers the teacher's vocabulary, or the rest of both is
    spread alike). The student side is tempered here; the teacher's log-probabilities already are.

    Args:
        student_logits: (n, Vs) float logits, row i facing the teacher's row i; the gradient flows to them.
        teacher: ``CrossTargets`` with (n, k) top entries and (n,) tails (``observed`` is not used).
        temperature: T > 0 of the student side; it must be the temperature the teacher was captured at.

    Returns:
        0-dim float32 tensor (float64 for float64 input): the mean over positions (0 when n = 0).

    Raises:
        ValueError: the row counts differ, or ``temperature`` is not a finite number > 0.
    """
    _check_temperature(temperature)
    if student_logits.shape[0] != teacher.logprobs.shape[0]:
        raise ValueError(f"student_logits has {student_logits.shape[0]} rows and the teacher {teacher.logprobs.shape[0]}; "
                         "give the positions that face each other.")
    if student_logits.shape[0] == 0:
        return student_logits.sum() * 0.0
    q = _tempered_probs(student_logits, temperature)
    p = teacher.logprobs.to(q.dtype).exp()
    return _head_and_rest(p, teacher.tail.to(q.dtype), q).mean()


def hybrid_topk(student_logits: torch.Tensor, student_ids: torch.Tensor, teacher: CrossTargets,
                teacher_ids: torch.Tensor, spans: list[tuple[int, int, int, int]],
                vocab: tuple[torch.Tensor, torch.Tensor], *, temperature: float = 1.0) -> torch.Tensor:
    """``hybrid`` against a stored teacher: exact on its shared top-k tokens, sorted distance on the rest.

    Each span's teacher vector is merged as ``merge_spans`` does, from the first row's top k (and tail)
    times the observed later tokens' probabilities (``teacher.observed``). Shared tokens of the teacher's
    top k face the student's same-string token in the generalized KL; the teacher's other top-k entries,
    and its tail as one bucket, face everything else of the student's merged vector (``uld_topk``'s
    head-and-rest distance). With k = the teacher's vocabulary this is ``hybrid`` exactly.

    Args:
        student_logits: (n_s, Vs) float logits; row k predicts student token k.
        student_ids: (n_s,) int64 observed student tokens.
        teacher: ``CrossTargets`` with (n_t, k) rows; row k predicts teacher token k.
        teacher_ids: (n_t,) int64 observed teacher tokens (used for their count only: ``observed`` holds
            their probabilities).
        spans: ``align_spans(student offsets, teacher offsets)`` shifted as for ``hybrid``.
        vocab: ``shared_vocab(student strings, teacher strings)``: (student ids, teacher ids), (P,) each.
        temperature: T > 0 of the student side; it must be the temperature the teacher was captured at.

    Returns:
        0-dim float32 tensor (float64 for float64 input); 0 when there are no spans.

    Raises:
        ValueError: ``temperature`` is not a finite number > 0, or the teacher rows do not match
            ``teacher_ids``.
    """
    _check_temperature(temperature)
    if teacher.logprobs.shape[0] != len(teacher_ids):
        raise ValueError(f"the teacher has {teacher.logprobs.shape[0]} rows for {len(teacher_ids)} teacher tokens.")
    dtype = torch.float64 if student_logits.dtype == torch.float64 else torch.float32
    if not spans:
        return student_logits.sum().to(dtype) * 0.0
    dev = student_logits.device
    ls = (student_logits.to(dtype) / temperature).log_softmax(-1)
    ms = merge_spans(ls, student_ids, [(a0, a1) for a0, a1, _, _ in spans])  # (G, Vs)
    first = torch.tensor([b0 for _, _, b0, _ in spans], device=dev)
    later = _later(teacher.observed.to(device=dev, dtype=dtype), [(b0, b1) for _, _, b0, b1 in spans])  # (G,)
    log_a = teacher.logprobs.to(device=dev, dtype=dtype)[first] + later.unsqueeze(-1)  # (G, k)
    log_tail = teacher.tail.to(device=dev, dtype=dtype)[first] + later  # (G,)
    t_top = teacher.indices.to(dev)[first]  # (G, k)
    s_ids, t_ids = (x.to(dev) for x in vocab)
    size = int(max(int(t_top.max()), int(t_ids.max()) if len(t_ids) else 0)) + 1
    to_student = torch.full((size,), -1, dtype=torch.long, device=dev)
    to_student[t_ids] = s_ids
    mapped = to_student[t_top]  # (G, k) the student id of each top teacher token, −1 when not shared
    shared = mapped >= 0
    a = log_a.exp()
    log_b = ms.gather(-1, mapped.clamp_min(0))
    exact = torch.where(shared, a * (log_a - log_b) - a + log_b.exp(), torch.zeros_like(a)).sum(-1)  # (G,)
    Vs = ms.shape[-1]
    # the student's columns that faced a shared teacher token leave the rest (a spare column takes the others)
    drop = torch.zeros(len(spans), Vs + 1, device=dev).scatter(-1, torch.where(shared, mapped, Vs), 1.0)[:, :Vs]
    rest_s = ms.exp().masked_fill(drop.bool(), 0.0)
    rest_t = torch.where(shared, torch.zeros_like(a), a)
    return (exact + _head_and_rest(rest_t, log_tail, rest_s)).mean()

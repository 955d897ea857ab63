"""`distill lm train --cross-tokenizer uld|hybrid`: a teacher whose tokenizer differs from the student's.

The corpus is cut into windows of the student's tokens; each window's text (by character offsets) is
tokenized again by the teacher, so both models read the same characters. The loss per window is one of
``distill.crosstok``'s: ``uld`` compares the i-th prediction of each side (the paper's in-order
setting), ``hybrid`` aligns the two tokenizations by character offsets and compares span by span.
Predictions are shifted as a causal LM makes them: the logits at position k − 1 predict token k, so a
window's first token on either side has no prediction and spans that start there are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distill.crosstok import (
    CrossTargets,
    align_spans,
    hybrid,
    hybrid_topk,
    shared_vocab,
    uld,
    uld_topk,
)


@dataclass
class CrossWindow:
    """One window read by both tokenizers: ids (int64) and (start, end) character offsets per token."""

    student_ids: torch.Tensor
    student_offsets: list[tuple[int, int]]
    teacher_ids: torch.Tensor
    teacher_offsets: list[tuple[int, int]]


def cross_windows(path, s_tok, t_tok, window: int, max_windows: int | None = None) -> list[CrossWindow]:
    """Windows of ``window`` student tokens from each document (a last partial window is dropped), each with
    the teacher's tokenization of the same characters.

    Args:
        path: the corpus (see ``distill.lm.corpus.iter_documents``).
        s_tok: the student's (fast) tokenizer; it must return offsets.
        t_tok: the teacher's (fast) tokenizer.
        window: student tokens per window, ≥ 2.
        max_windows: keep at most this many (None: all).

    Returns:
        The windows, in corpus order.

    Raises:
        ValueError: ``window`` < 2, or no document holds a full window.
    """
    from distill.lm.corpus import iter_documents

    if window < 2:
        raise ValueError(f"window must be ≥ 2 tokens, got {window}.")
    out: list[CrossWindow] = []
    for doc in iter_documents(path):
        enc = s_tok(doc, add_special_tokens=False, return_offsets_mapping=True)
        ids, offs = enc["input_ids"], enc["offset_mapping"]
        for w in range(len(ids) // window):
            sl = slice(w * window, (w + 1) * window)
            start, end = offs[sl][0][0], offs[sl][-1][1]
            t_enc = t_tok(doc[start:end], add_special_tokens=False, return_offsets_mapping=True)
            t_offs = [(a + start, b + start) for a, b in t_enc["offset_mapping"]]
            out.append(CrossWindow(torch.tensor(ids[sl]), [tuple(o) for o in offs[sl]],
                                   torch.tensor(t_enc["input_ids"]), t_offs))
            if max_windows is not None and len(out) >= max_windows:
                return out
    if not out:
        raise ValueError(f"corpus {path} holds no document of {window} student tokens; give more text or a "
                         "smaller --window.")
    return out


def token_strings(tokenizer) -> list[str]:
    """The text each token id stands for (``convert_tokens_to_string`` of the id's token), so that two
    tokenizers' space markers ("Ġ", "▁") compare equal.

    Args:
        tokenizer: an HF tokenizer.

    Returns:
        One string per id, index = id.
    """
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return [tokenizer.convert_tokens_to_string([t]) if t is not None else "" for t in tokens]


def batch(windows: list[CrossWindow], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(student ids (b, L), teacher ids (b, Lt)), teachers right-padded with ``pad_id`` (after every real
    token, so a causal model's predictions for the real ones are unchanged).

    Args:
        windows: the batch's windows.
        pad_id: the teacher's padding id.

    Returns:
        The two id tensors.
    """
    s = torch.stack([w.student_ids for w in windows])
    n = max(len(w.teacher_ids) for w in windows)
    t = torch.full((len(windows), n), pad_id, dtype=torch.long)
    for i, w in enumerate(windows):
        t[i, : len(w.teacher_ids)] = w.teacher_ids
    return s, t


def cross_loss(kind: str, s_logits: torch.Tensor, t_logits: torch.Tensor, windows: list[CrossWindow],
               vocab: tuple[torch.Tensor, torch.Tensor] | None, temperature: float) -> torch.Tensor:
    """Mean over the batch's windows of the cross-tokenizer loss ``kind``.

    Args:
        kind: "uld" or "hybrid".
        s_logits: (b, L, Vs) student logits on ``batch``'s student ids.
        t_logits: (b, Lt, Vt) teacher logits on its (padded) ids; no gradient.
        windows: the windows of the batch.
        vocab: ``shared_vocab`` of the two tokenizers' strings (hybrid; ignored by uld).
        temperature: T of both sides.

    Returns:
        0-dim float32 tensor.
    """
    losses = []
    for i, w in enumerate(windows):
        n_t = len(w.teacher_ids)
        s_pred, t_pred = s_logits[i, :-1], t_logits[i, : n_t - 1]  # row k − 1 predicts token k
        if kind == "uld":
            n = min(len(s_pred), len(t_pred))
            losses.append(uld(s_pred[:n], t_pred[:n], temperature=temperature))
            continue
        losses.append(hybrid(s_pred, t_pred, w.student_ids[1:].to(s_pred.device),
                             w.teacher_ids[1:].to(s_pred.device), _shifted_spans(w), vocab, temperature=temperature))
    return torch.stack(losses).mean()


def _shifted_spans(w: CrossWindow) -> list[tuple[int, int, int, int]]:
    """``align_spans`` of a window shifted to prediction rows (row k − 1 predicts token k); spans that start
    at a side's first token (no prediction) are left out."""
    return [(a0 - 1, a1 - 1, b0 - 1, b1 - 1)
            for a0, a1, b0, b1 in align_spans(w.student_offsets, w.teacher_offsets) if a0 > 0 and b0 > 0]


def cross_loss_stored(kind: str, s_logits: torch.Tensor, windows: list[CrossWindow], targets: list[CrossTargets],
                      vocab, temperature: float) -> torch.Tensor:
    """``cross_loss`` against a stored teacher (a cross store's ``CrossTargets``, one per window).

    Args:
        kind: "uld" or "hybrid".
        s_logits: (b, L, Vs) student logits on the windows' student ids.
        windows: the batch's windows.
        targets: per window, the teacher's (len(teacher_ids) − 1, k) rows (row r predicts teacher token r + 1).
        vocab: ``shared_vocab`` of the two tokenizers' strings (hybrid; ignored by uld), or a list of them, one
            per window (teachers of several tokenizers: each window's own).
        temperature: T of the student side; the store's capture temperature.

    Returns:
        0-dim float32 tensor.
    """
    losses = []
    per_window = isinstance(vocab, list)
    for i, (w, t) in enumerate(zip(windows, targets, strict=True)):
        t = t.to(s_logits.device)
        s_pred = s_logits[i, :-1]
        if kind == "uld":
            n = min(len(s_pred), t.logprobs.shape[0])
            rows = CrossTargets(t.indices[:n], t.logprobs[:n], t.tail[:n], t.observed[:n], t.temperature)
            losses.append(uld_topk(s_pred[:n], rows, temperature=temperature))
            continue
        losses.append(hybrid_topk(s_pred, w.student_ids[1:].to(s_pred.device), t, w.teacher_ids[1:], _shifted_spans(w),
                                  vocab[i] if per_window else vocab, temperature=temperature))
    return torch.stack(losses).mean()


def vocab_pairs(s_tok, t_tok) -> tuple[torch.Tensor, torch.Tensor]:
    """``shared_vocab`` of the two tokenizers' decoded strings: (student ids, teacher ids).

    Args:
        s_tok: the student's tokenizer.
        t_tok: the teacher's tokenizer.

    Returns:
        Two (P,) int64 tensors.
    """
    return shared_vocab(token_strings(s_tok), token_strings(t_tok))

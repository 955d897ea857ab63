"""Entity spans: a teacher's mentions located in the text by exact string match, and span-level scores.

A teacher names entities by their text; :func:`locate` turns them into character offsets. Each mention is
looked for as an exact substring, whole-word occurrences first (so "Apple" is not found inside "Pineapple"
while a whole-word one exists), earliest first, never overlapping a span already placed; a mention that
cannot be placed is dropped and counted. Every span returned satisfies ``text[start:end] == span["text"]``
(tests/label/test_spans.py checks it as a property).

Scores are micro precision / recall / F1 over exact (start, end, type) matches, the CoNLL convention, and
the same per type.
"""

from __future__ import annotations

import re

Span = dict  # {"start": int, "end": int, "type": str, "text": str}


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _occurrences(text: str, mention: str) -> list[int]:
    out, i = [], text.find(mention)
    while i >= 0:
        out.append(i)
        i = text.find(mention, i + 1)
    return out


def locate(text: str, entities: list[dict]) -> tuple[list[Span], list[dict]]:
    """Place each ``{"text", "type"}`` mention in ``text`` (see the module docstring for the rule).

    Args:
        text: the labelled text.
        entities: mentions in the teacher's order, each with a non-empty string ``text`` and a ``type``.

    Returns:
        (spans sorted by start, mentions that could not be placed: not a substring, or every occurrence
        overlaps a span already placed).
    """
    spans: list[Span] = []
    missed: list[dict] = []
    taken: list[tuple[int, int]] = []
    for ent in entities:
        m = ent.get("text") or ""
        if not isinstance(m, str) or not m.strip():
            missed.append(ent)
            continue
        m = m.strip()
        occ = _occurrences(text, m)
        whole = [i for i in occ if (i == 0 or not _word_char(text[i - 1]) or not _word_char(m[0]))
                 and (i + len(m) == len(text) or not _word_char(text[i + len(m)]) or not _word_char(m[-1]))]
        free = [i for i in whole + [i for i in occ if i not in whole]
                if all(i + len(m) <= s or i >= e for s, e in taken)]
        if not free:
            missed.append(ent)
            continue
        s = free[0]
        taken.append((s, s + len(m)))
        spans.append({"start": s, "end": s + len(m), "type": str(ent.get("type", "")), "text": text[s : s + len(m)]})
    return sorted(spans, key=lambda sp: (sp["start"], sp["end"])), missed


def prf(tp: int, n_pred: int, n_gold: int) -> dict:
    """Precision, recall and F1 from counts (0 where undefined; both empty counts as perfect).

    Args:
        tp: true positives.
        n_pred: predicted items.
        n_gold: gold items.

    Returns:
        {"precision", "recall", "f1", "tp", "pred", "gold"}.
    """
    if n_pred == 0 and n_gold == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 0, "pred": 0, "gold": 0}
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "pred": n_pred, "gold": n_gold}


def span_f1(gold: list[list[Span]], pred: list[list[Span]]) -> dict:
    """Micro span-level scores over documents, exact (start, end, type) matches, overall and per type.

    Args:
        gold: per document, the gold spans.
        pred: per document (same order), the predicted spans.

    Returns:
        {"precision", "recall", "f1", "tp", "pred", "gold", "per_type": {type: the same keys}}.

    Raises:
        ValueError: the two lists differ in length.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} documents, predictions {len(pred)}.")
    key = lambda sp: (sp["start"], sp["end"], sp["type"])
    counts: dict[str, list[int]] = {}
    tp = n_p = n_g = 0
    for g, p in zip(gold, pred, strict=True):
        gs, ps = {key(s) for s in g}, {key(s) for s in p}
        tp, n_p, n_g = tp + len(gs & ps), n_p + len(ps), n_g + len(gs)
        for t in {k[2] for k in gs | ps}:
            c = counts.setdefault(t, [0, 0, 0])
            c[0] += len({k for k in gs & ps if k[2] == t})
            c[1] += len({k for k in ps if k[2] == t})
            c[2] += len({k for k in gs if k[2] == t})
    return prf(tp, n_p, n_g) | {"per_type": {t: prf(*c) for t, c in sorted(counts.items())}}


def classification_scores(gold: list[str], pred: list[str | None], labels: tuple[str, ...]) -> dict:
    """Accuracy and macro F1 of predicted labels (a missing prediction, None, counts as wrong).

    Args:
        gold: gold labels.
        pred: predicted labels, same order; None where the labeller gave none.
        labels: the label set (macro F1 averages over these).

    Returns:
        {"accuracy", "macro_f1", "n", "per_label": {label: prf keys}}.

    Raises:
        ValueError: the lists differ in length or are empty.
    """
    if len(gold) != len(pred) or not gold:
        raise ValueError(f"need equally long, non-empty label lists; got {len(gold)} and {len(pred)}.")
    per = {}
    for lab in labels:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred, strict=True))
        per[lab] = prf(tp, sum(p == lab for p in pred), sum(g == lab for g in gold))
    return {"accuracy": sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold),
            "macro_f1": sum(v["f1"] for v in per.values()) / len(per), "n": len(gold), "per_label": per}


_TOKEN = re.compile(r"\w+(?:[.,'’-]\w+)*|[^\w\s]")


def tokens(text: str) -> list[tuple[int, int]]:
    """Word tokens of ``text`` as (start, end) offsets: runs of word characters (with inner . , ' - joins,
    so "4.2", "O'Neil" and "Coca-Cola" are one token) and single punctuation marks.

    Args:
        text: the text.

    Returns:
        The token offsets, in order.
    """
    return [(m.start(), m.end()) for m in _TOKEN.finditer(text)]


def bio_tags(text: str, spans: list[Span], toks: list[tuple[int, int]] | None = None) -> list[str]:
    """BIO tag of each token: ``B-TYPE`` on a span's first token, ``I-TYPE`` inside, ``O`` outside (a token
    that only partly overlaps a span is tagged as inside it).

    Args:
        text: the text.
        spans: its spans.
        toks: its token offsets (default :func:`tokens`).

    Returns:
        One tag per token.
    """
    toks = tokens(text) if toks is None else toks
    tags = ["O"] * len(toks)
    for sp in spans:
        first = True
        for i, (s, e) in enumerate(toks):
            if s < sp["end"] and e > sp["start"]:
                tags[i] = ("B-" if first else "I-") + sp["type"]
                first = False
    return tags


def tags_to_spans(text: str, toks: list[tuple[int, int]], tags: list[str]) -> list[Span]:
    """Spans from BIO tags: a ``B-T`` (or an ``I-T`` not continuing a ``T``) opens a span, ``I-T`` extends it.

    Args:
        text: the text.
        toks: token offsets.
        tags: one tag per token.

    Returns:
        The spans, from the first token's start to the last token's end.
    """
    spans: list[Span] = []
    cur = None
    for (s, e), tag in zip(toks, tags, strict=True):
        kind, _, typ = tag.partition("-")
        if kind == "I" and cur is not None and cur["type"] == typ:
            cur["end"] = e
            continue
        if cur is not None:
            spans.append(cur)
            cur = None
        if kind in ("B", "I") and typ:
            cur = {"start": s, "end": e, "type": typ}
    if cur is not None:
        spans.append(cur)
    return [sp | {"text": text[sp["start"] : sp["end"]]} for sp in spans]

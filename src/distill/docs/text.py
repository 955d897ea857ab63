"""Small text utilities shared by the docs filters and the evaluation: tokens, overlap, sentences."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[_A-Za-z]\w*(?:\.[_A-Za-z]\w*)*(?:\(\))?(?:['’][A-Za-z]+)?|[^\W_]+(?:['’][^\W_]+)?|\S")
# Function words carry no evidence that an answer is grounded; leaving them in inflates overlap.
STOPWORDS = frozenset("""a an the and or but if then else of to in on at by for with from as is are was were be been
being it its this that these those there here which who whom whose what when where why how not no yes do does did
can could should would may might must will shall you your we our they their he she his her i me my so than too very
just also only any all each some such into over under about after before because while use used using""".split())


def words(text: str) -> list[str]:
    """Lower-cased word tokens (punctuation dropped; identifiers like ``os.path.join()`` kept whole).

    Args:
        text: any text.

    Returns:
        The words, in order.
    """
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w[0].isalnum() or w[:2] == "__"
            or (w[0] == "_" and len(w) > 1)]


def content_words(text: str) -> list[str]:
    """The `words` of ``text`` without stop words.

    Args:
        text: any text.

    Returns:
        The content words, in order.
    """
    return [w for w in words(text) if w not in STOPWORDS]


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 between two answers (bag of lower-cased words, stop words kept).

    Args:
        prediction: the answer to score.
        reference: the reference answer.

    Returns:
        F1 in [0, 1] (1.0 when both are empty, 0.0 when only one is).
    """
    p, r = words(prediction), words(reference)
    if not p or not r:
        return float(p == r)
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(r)
    return 2 * prec * rec / (prec + rec)


_SENT_END = re.compile(r"(?<=[.!?:])\s+|\n\s*\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans (start, end) of the sentences of ``text`` (blank lines also end one).

    Args:
        text: any text.

    Returns:
        The (start, end) spans, in order.
    """
    spans, start = [], 0
    for m in _SENT_END.finditer(text):
        if text[start:m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def shingles(text: str, n: int = 3) -> set[str]:
    """The word n-grams of ``text`` (one shingle of all its words when it has fewer than n).

    Args:
        text: any text.
        n: words per shingle.

    Returns:
        The shingles, as space-joined strings (empty for a text without words).
    """
    w = words(text)
    return {" ".join(w[i:i + n]) for i in range(max(1, len(w) - n + 1))} if w else set()


def jaccard(a: set, b: set) -> float:
    """Jaccard similarity |a ∩ b| / |a ∪ b| (1.0 for two empty sets).

    Args:
        a: a set.
        b: another.

    Returns:
        The similarity in [0, 1].
    """
    return len(a & b) / len(a | b) if (a or b) else 1.0

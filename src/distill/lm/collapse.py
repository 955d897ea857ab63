"""Has a model collapsed? Read it off its greedy predictions and its generated text.

A student that predicts one token everywhere, or continues every prompt with newlines, can
still post a KL or a perplexity lower than another broken student, and a table of those
numbers reads as a win. These checks say plainly that the model is broken instead:

* **dominant token**: the share of held-out positions where the model's greedy prediction is
  its most frequent one. Natural text has no such token: on SmolLM2's own predictions over
  the pydoc held-out text the most frequent one (a newline) is about a tenth of positions, so
  a share of one half (``DOMINANT_SHARE``) is far outside what a working LM does. When the
  reference (the teacher) predicts the same token about as often (at least half the model's
  share), the text itself is that repetitive and the model is not blamed.
* **repetition**: the share of a continuation's n-grams (``REPEAT_N``) that already occurred
  earlier in it. A 16–24-token continuation of prose repeats almost none; a loop such as
  ``the the the`` or ``\\n\\n\\n`` repeats nearly all. Above ``REPEAT_SHARE`` it is degenerate.
* **blank**: a continuation that is empty or only whitespace.

Pure functions over token ids and strings; ``distill.lm.evaluate`` and ``distill.docs.evaluate``
feed them.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

DOMINANT_SHARE = 0.5
REPEAT_N = 3
REPEAT_SHARE = 0.5


def dominant(preds: Sequence[int]) -> tuple[int, int, int]:
    """(most frequent prediction, its count, number of predictions); (-1, 0, 0) when empty.

    Args:
        preds: predicted token ids.

    Returns:
        (token, count, total).
    """
    if not preds:
        return -1, 0, 0
    token, count = Counter(preds).most_common(1)[0]
    return token, count, len(preds)


def repeated_share(tokens: Sequence, n: int = REPEAT_N) -> float:
    """Share of the n-grams of ``tokens`` that already occurred earlier in it (1 − distinct-n / n-grams).

    0.0 when there are fewer than n tokens (nothing to repeat).

    Args:
        tokens: token ids or words, in order.
        n: n-gram length.

    Returns:
        Share in [0, 1).
    """
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def is_blank(text: str) -> bool:
    """True when ``text`` is empty or whitespace only.

    Args:
        text: a decoded generation or answer.

    Returns:
        Whether it is blank.
    """
    return not text.strip()


def detect(preds: Sequence[int], generations: Sequence[Sequence] = (), texts: Sequence[str] = (), *,
           reference: Sequence[int] | None = None, name=repr) -> dict:
    """The collapse checks on one model.

    Args:
        preds: the model's greedy prediction at each held-out position (token ids).
        generations: token sequences the model generated (continuations only, prompts excluded).
        texts: the same continuations decoded (for the blank check).
        reference: the reference model's greedy predictions at the same positions (None: no reference).
        name: token id → how a report prints it (e.g. the tokenizer's decode, quoted).

    Returns:
        JSON-able dict: ``collapsed`` (bool), ``reasons`` (plain sentences; empty when healthy) and the
        numbers behind them: ``dominant_token``, ``dominant_count``, ``positions``, ``dominant_share``,
        ``reference_share`` (of the same token), ``repeated_share`` (the worst continuation's),
        ``blank`` (how many continuations are whitespace only), ``generations``.
    """
    token, count, n = dominant(list(preds))
    share = count / n if n else 0.0
    ref_share = None
    if reference is not None and len(reference):
        ref_share = sum(1 for t in reference if t == token) / len(reference)
    reasons = []
    if share >= DOMINANT_SHARE and (ref_share is None or ref_share < share / 2):
        ref = f" (reference: {ref_share:.0%})" if ref_share is not None else ""
        reasons.append(f"predicts {name(token)} at {count}/{n} positions{ref}")
    rep = max((repeated_share(list(g)) for g in generations), default=0.0)
    if rep >= REPEAT_SHARE:
        reasons.append(f"generation repeats itself ({rep:.0%} of its {REPEAT_N}-grams are repeats)")
    blank = sum(is_blank(t) for t in texts)
    if texts and blank == len(texts):
        reasons.append("generates whitespace only" if blank == 1 else f"all {blank} generations are whitespace only")
    return {"collapsed": bool(reasons), "reasons": reasons, "dominant_token": token, "dominant_count": count,
            "positions": n, "dominant_share": share, "reference_share": ref_share, "repeated_share": rep,
            "blank": blank, "generations": len(texts)}


def detect_answers(texts: Sequence[str]) -> dict:
    """Collapse checks on free-text answers (no token predictions: an HTTP student, ``distill docs eval``).

    Words stand in for tokens. Collapsed when half the answers or more are blank, are one and the same
    answer (of four or more), or repeat themselves (repeated-3-gram share ≥ ``REPEAT_SHARE``).

    Args:
        texts: the answers, one string each.

    Returns:
        JSON-able dict: ``collapsed`` (bool), ``reasons`` (sentences), ``answers`` and, when there are
        any, ``blank``, ``same_answer`` (count of the most common answer) and ``repetitive``.
    """
    n = len(texts)
    if not n:
        return {"collapsed": False, "reasons": [], "answers": 0}
    blank = sum(is_blank(t) for t in texts)
    common, same = Counter(" ".join(t.split()) for t in texts).most_common(1)[0]
    loops = sum(repeated_share(t.split()) >= REPEAT_SHARE for t in texts)
    reasons = []
    if blank >= n * DOMINANT_SHARE:
        reasons.append(f"{blank}/{n} answers are whitespace only")
    if common and same >= n * DOMINANT_SHARE and n >= 4:  # two or three answers alike can be chance
        reasons.append(f"{same}/{n} answers are the same text {common[:40]!r}")
    if loops >= n * DOMINANT_SHARE:
        reasons.append(f"{loops}/{n} answers repeat themselves")
    return {"collapsed": bool(reasons), "reasons": reasons, "answers": n, "blank": blank, "same_answer": same,
            "repetitive": loops}


def verdict(reasons: Sequence[str]) -> str:
    """``collapsed: predicts "\\n" at 255/256 positions; generates whitespace only`` ('' when healthy).

    Args:
        reasons: the ``reasons`` of `detect` or `detect_answers`.

    Returns:
        The verdict line, or '' when there are no reasons.
    """
    return "collapsed: " + "; ".join(reasons) if reasons else ""

"""Claim rates with 95% Wilson score intervals, per teacher, language and condition."""

from __future__ import annotations

from collections import defaultdict

from distill.detect.identity.claims import NO_CLAIM
from distill.stats import wilson


def rate(k: int, n: int) -> dict:
    """A proportion with its 95% Wilson score interval.

    Args:
        k: answers with the property, 0 ≤ k ≤ n.
        n: answers in the cell, ≥ 0.

    Returns:
        ``{"k", "n", "rate", "lo", "hi"}``: the counts, k / n (0.0 when n = 0) and the interval's ends
        (the last three in [0, 1]; the interval is (0, 1) when n = 0).
    """
    lo, hi = wilson(k, n)
    return {"k": k, "n": n, "rate": k / n if n else 0.0, "lo": lo, "hi": hi}


def claim_rates(records: list[dict], identities: list[str], labs: dict[str, str]) -> dict:
    """Rates of each identity (and of no claim) among ``records`` grouped by teacher × language × condition.

    Each record has ``teacher``, ``lang``, ``condition`` and ``claims`` (a list of identity ids). An answer
    may claim several identities, so one cell's rates need not sum to 1. Also pooled over languages
    (``lang = "all"``) and, per lab, for the cross-teacher comparison.

    Args:
        records: the classified answers.
        identities: the identity ids to rate (every id of the alias table, claimed or not).
        labs: identity id → lab name; an answer counts for a lab when any of its claims belongs to it.

    Returns:
        ``{teacher: {lang: {condition: cell}}}`` with ``lang`` also "all", where a cell maps each identity
        id and ``NO_CLAIM`` to a :func:`rate` dict, and ``"labs"`` to ``{lab: rate}``.
    """
    groups: dict[tuple[str, str, str], list[list[str]]] = defaultdict(list)
    for r in records:
        for lang in (r["lang"], "all"):
            groups[(r["teacher"], lang, r["condition"])].append(r["claims"])
    out: dict = {}
    for (teacher, lang, cond), claims in sorted(groups.items()):
        n = len(claims)
        cell = {ident: rate(sum(ident in c for c in claims), n) for ident in identities}
        cell[NO_CLAIM] = rate(sum(not c for c in claims), n)
        cell["labs"] = {lab: rate(sum(any(labs.get(i) == lab for i in c) for c in claims), n)
                        for lab in sorted(set(labs.values()))}
        out.setdefault(teacher, {}).setdefault(lang, {})[cond] = cell
    return out

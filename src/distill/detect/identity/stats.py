"""Claim rates with 95% Wilson score intervals, per teacher, language and condition."""

from __future__ import annotations

import math
from collections import defaultdict

from distill.detect.identity.claims import NO_CLAIM

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (Wilson 1927); (0, 1) when n = 0.

    Unlike the normal approximation it stays inside [0, 1] and is not zero-width at k = 0 or k = n,
    which matters here: most cells have a few dozen answers and many have no claim at all.
    """
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact ends at k = 0 and k = n (the formula gives them up to rounding)
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def rate(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"k": k, "n": n, "rate": k / n if n else 0.0, "lo": lo, "hi": hi}


def claim_rates(records: list[dict], identities: list[str], labs: dict[str, str]) -> dict:
    """Rates of each identity (and of no claim) among ``records`` grouped by teacher × language × condition.

    Each record has ``teacher``, ``lang``, ``condition`` and ``claims`` (a list of identity ids). An answer
    may claim several identities, so one cell's rates need not sum to 1. Also pooled over languages
    (``lang = "all"``) and, per lab, for the cross-teacher comparison.
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

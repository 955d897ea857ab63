"""Spot-check sampling and the error-rate estimate it supports.

A spot check reviews a seeded simple random sample of n of the N items (without replacement) and
estimates the share of the whole data set a reviewer would reject. The interval is Wilson's score
interval at 95% with the finite-population correction: sampling without replacement from N items has
variance smaller by (N − n) / (N − 1), which Wilson's formula takes as an effective sample size
n_eff = n (N − 1) / (N − n). When the sample is the whole data set the interval closes on the observed
rate (nothing is left to estimate); for a 5% sample of a large set the correction is negligible (≈ 2.5%
narrower). Wilson rather than the normal approximation: it stays inside [0, 1] and is not zero-width
when no item (or every item) in the sample was rejected, the usual case for a good data set.
"""

from __future__ import annotations

import math
import random

from distill.stats import wilson


def sample_ids(ids: list[str], fraction: float, seed: int) -> list[str]:
    """ceil(fraction × N) ids drawn without replacement, in a random order fixed by ``seed`` (so a restart
    shows the same sample). ``fraction`` 0 or 1: every id, in data set order.

    Args:
        ids: every item id.
        fraction: share of the items to sample, in [0, 1].
        seed: seed of the draw.

    Returns:
        The sampled ids (at least one), or all of them.
    """
    if fraction <= 0 or fraction >= 1:
        return list(ids)
    n = max(1, math.ceil(fraction * len(ids)))
    return random.Random(seed).sample(sorted(ids), n)


def estimate(errors: int, reviewed: int, population: int) -> dict:
    """Rate of ``errors`` in ``reviewed`` sampled items, as an estimate for ``population`` items, with a 95%
    Wilson interval under the finite-population correction.

    Args:
        errors: rejected items among those reviewed.
        reviewed: sampled items reviewed so far.
        population: items in the whole data set.

    Returns:
        {"errors", "reviewed", "population", "rate" (None before any review), "lo", "hi", "fpc"};
        with every item reviewed the interval is the rate itself (fpc 0).
    """
    if reviewed == 0:
        return {"errors": 0, "reviewed": 0, "population": population, "rate": None, "lo": 0.0, "hi": 1.0,
                "fpc": 1.0}
    p = errors / reviewed
    if reviewed >= population:
        return {"errors": errors, "reviewed": reviewed, "population": population, "rate": p, "lo": p, "hi": p,
                "fpc": 0.0}
    fpc = (population - reviewed) / (population - 1) if population > 1 else 1.0
    n_eff = reviewed / fpc
    lo, hi = wilson(p * n_eff, n_eff)
    return {"errors": errors, "reviewed": reviewed, "population": population, "rate": p, "lo": lo, "hi": hi,
            "fpc": fpc}


def describe(est: dict, errors_are: str = "rejected") -> str:
    """The estimate in one sentence for the page and review.md.

    Args:
        est: as :func:`estimate` returns it.
        errors_are: what made an item an error ("rejected"; for label sets "rejected or corrected").

    Returns:
        The sentence, without a final full stop.
    """
    if est["rate"] is None:
        return "no sampled item reviewed yet"
    return (f"{est['errors']} of {est['reviewed']} reviewed sample items {errors_are}: estimated error rate "
            f"{est['rate']:.1%} (95% CI {est['lo']:.1%}–{est['hi']:.1%}) of {est['population']} items")

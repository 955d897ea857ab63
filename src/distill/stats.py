"""Small statistics shared by reports: the Wilson score interval for a proportion, a percentile bootstrap
interval for a mean, and a paired bootstrap interval for a difference of means."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (Wilson 1927); (0, 1) when n = 0.

    Unlike the normal approximation it stays inside [0, 1] and is not zero-width at k = 0 or k = n,
    which matters here: most cells have a few dozen answers and many have no claim at all.

    Args:
        k: number of successes, 0 ≤ k ≤ n.
        n: number of trials, ≥ 0.
        z: standard-normal quantile of the confidence level (default: 95 %, two-sided).

    Returns:
        (low, high), the interval's ends, both in [0, 1].
    """
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact ends at k = 0 and k = n (the formula gives them up to rounding)
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def rate(k: int, n: int, z: float = Z95) -> dict:
    """A proportion with its Wilson interval, as reports write it.

    Args:
        k: number of successes, 0 ≤ k ≤ n.
        n: number of trials, ≥ 0.
        z: standard-normal quantile of the confidence level (default: 95 %).

    Returns:
        ``{"value", "low", "high", "k", "n"}`` (``value`` None when n = 0), rounded to 4 places.
    """
    lo, hi = wilson(k, n, z)
    return {"value": round(k / n, 4) if n else None, "low": round(lo, 4), "high": round(hi, 4), "k": k, "n": n}


def bootstrap_mean(values, *, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """The mean of ``values`` with a percentile bootstrap interval (resampling the values with replacement).

    Args:
        values: the observations (e.g. one token F1 per question).
        resamples: bootstrap resamples.
        level: confidence level of the interval.
        seed: seed of the resampling (same seed, same interval).

    Returns:
        ``{"value", "low", "high", "n"}`` rounded to 4 places; all None but ``n`` when there are no values.
    """
    import numpy as np

    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)  # (resamples,)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return {"value": round(float(x.mean()), 4), "low": round(float(lo), 4), "high": round(float(hi), 4),
            "n": int(x.size)}


def bootstrap_diff(a, b, *, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Mean of the paired differences ``a[i] - b[i]`` with a percentile bootstrap interval (the same
    questions resampled for both), e.g. the trained student's F1 minus the untrained one's per question.

    Args:
        a: the first system's scores, one per item.
        b: the second system's scores on the same items, in the same order.
        resamples: bootstrap resamples.
        level: confidence level of the interval.
        seed: seed of the resampling.

    Returns:
        ``{"value", "low", "high", "n"}`` as :func:`bootstrap_mean`.

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"paired scores need equal lengths, got {len(a)} and {len(b)}.")
    return bootstrap_mean([x - y for x, y in zip(a, b, strict=True)], resamples=resamples, level=level, seed=seed)

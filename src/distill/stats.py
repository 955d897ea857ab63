"""Small statistics shared by reports: the Wilson score interval for a proportion."""

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

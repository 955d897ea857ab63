"""The one-sided tests of a green count: Kirchenbauer et al.'s z-score and the exact binomial tail."""

from __future__ import annotations

import math


def z_score(green: int, n: int, gamma: float) -> float:
    """z = (green − γn) / √(n γ (1 − γ)) (Kirchenbauer et al. 2023, eq. 3); 0 when n = 0.

    Args:
        green: green tokens among the scored ones.
        n: tokens scored.
        gamma: green share under the null.

    Returns:
        The z-score.
    """
    if n == 0:
        return 0.0
    return (green - gamma * n) / math.sqrt(n * gamma * (1.0 - gamma))


def normal_sf(z: float) -> float:
    """P(Z ≥ z) for a standard normal Z.

    Args:
        z: the statistic.

    Returns:
        The one-sided p-value.
    """
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed exactly in log space (valid far in the tail, p < 1e-300).

    Sander et al. (2024) use this exact tail rather than the z-score's normal approximation, which
    understates tiny p-values.

    Args:
        k: the observed count.
        n: trials.
        p: success probability, in (0, 1).

    Returns:
        The upper tail probability (1 for k ≤ 0, 0 for k > n).
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * lp + (n - j) * lq
             for j in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def green_test(green: int, n: int, gamma: float) -> dict:
    """Both tests of a green count, as results report them.

    Args:
        green: green tokens among the scored ones.
        n: tokens scored.
        gamma: green share under the null.

    Returns:
        {"scored", "green", "green_share", "z", "p_value" (normal), "p_value_exact" (binomial)}.
    """
    z = z_score(green, n, gamma)
    return {"scored": n, "green": green, "green_share": round(green / n, 4) if n else None, "z": round(z, 4),
            "p_value": normal_sf(z) if n else 1.0, "p_value_exact": binom_sf(green, n, gamma)}

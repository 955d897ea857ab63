"""Privacy accounting of GNMax and Confident-GNMax in Rényi DP (Papernot et al., ICLR 2018, §3–4).

Neighbouring data sets differ in one private record, which sits in one teacher's partition and
so changes at most one vote: the count histogram moves by at most √2 in L2 norm, and its top
count by at most 1. Hence, per query:

- GNMax with σ: the Gaussian mechanism with L2 sensitivity √2, RDP ε(λ) = λ/σ²
  (``dp_accounting.GaussianDpEvent(noise_multiplier=σ/√2)``);
- the threshold check of Confident-GNMax with σ₁: sensitivity 1, RDP λ/(2σ₁²)
  (``GaussianDpEvent(σ₁)``); it is paid for every query, answered or not.

The **data-independent** ε composes these with ``dp_accounting``'s RDP accountant. The
**data-dependent** bound (Theorem 6 with Proposition 7) uses the teachers' margins: when the
top class wins by a wide margin, the noisy answer is almost certain, q = Pr[answer ≠ top class]
is tiny, and the RDP of that query falls far below λ/σ². This module implements that bound for
the answered queries (the threshold checks stay data-independent) and converts the summed RDP to
(ε, δ) with ``dp_accounting.rdp.compute_epsilon`` — the same conversion the accountant uses, so
the two bounds differ only in the per-query RDP.

The data-dependent ε depends on the private data, so releasing it is itself a leak; the paper
releases a smooth-sensitivity-sanitized version of it (its §5), which is not implemented here.
Report the data-dependent value as what the analysis gives, and the data-independent one as the
guarantee.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

ORDERS = np.array([1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024], dtype=float)
# = dp_accounting.rdp.rdp_privacy_accountant.DEFAULT_RDP_ORDERS (a test checks it)


def rdp_gnmax_independent(sigma: float, orders=ORDERS) -> np.ndarray:
    """Data-independent RDP of one GNMax answer: λ/σ².

    Args:
        sigma: GNMax noise (> 0).
        orders: Rényi orders λ > 1.

    Returns:
        ε(λ) per order, shape of ``orders``.
    """
    return np.asarray(orders, dtype=float) / sigma**2


def rdp_threshold(sigma1: float, orders=ORDERS) -> np.ndarray:
    """RDP of one threshold check of Confident-GNMax (sensitivity 1): λ/(2σ₁²).

    Args:
        sigma1: the check's noise (> 0).
        orders: Rényi orders λ > 1.

    Returns:
        ε(λ) per order.
    """
    return np.asarray(orders, dtype=float) / (2 * sigma1**2)


def log_q(counts: np.ndarray, sigma: float) -> np.ndarray:
    """Proposition 7: log of an upper bound on q = Pr[GNMax ≠ the top class], per query.

    q ≤ Σ_{i ≠ i*} Pr[N(0, 2σ²) ≥ n_{i*} − n_i] = ½ Σ_{i ≠ i*} erfc((n_{i*} − n_i)/(2σ)), capped at
    1 − 1/K (the reference implementation's cap, which keeps the bound in the range Theorem 6 needs).

    Args:
        counts: (n_queries, K) vote counts (or one query, (K,)).
        sigma: GNMax noise (> 0).

    Returns:
        (n_queries,) log q̃ (a float for one query).
    """
    c = np.atleast_2d(np.asarray(counts, dtype=float))
    K = c.shape[1]
    top = np.argmax(c, axis=1)
    gap = c[np.arange(len(c)), top][:, None] - c  # (n, K) margins, 0 at the top class
    tails = norm.logsf(gap, scale=math.sqrt(2) * sigma)
    tails[np.arange(len(c)), top] = -np.inf
    out = np.minimum(logsumexp(tails, axis=1), math.log(1 - 1 / K))
    return out if np.ndim(counts) == 2 else float(out[0])


def _log1mexp(x: float) -> float:
    """log(1 − eˣ) for x < 0, stable at both ends."""
    return math.log(-math.expm1(x)) if x > -0.693 else math.log1p(-math.exp(x))


def rdp_gnmax_dependent(logq: float, sigma: float, orders=ORDERS) -> np.ndarray:
    """Theorem 6: data-dependent RDP of one GNMax answer, given log q̃ (Proposition 7).

    With μ₂ = σ·√(log 1/q̃), μ₁ = μ₂ + 1 and εᵢ = μᵢ/σ² (GNMax's own RDP at those orders), for
    λ < μ₁ and q̃ small enough (the theorem's condition),
    ε(λ) ≤ log((1 − q̃)·A^(λ−1) + q̃·B^(λ−1)) / (λ − 1),
    A = (1 − q̃)/(1 − (q̃·e^ε₂)^((μ₂−1)/μ₂)), B = e^ε₁ / q̃^(1/(μ₁−1));
    elsewhere (and wherever it is larger) the data-independent λ/σ². Computed in logs, following
    the authors' reference code (tensorflow/privacy, research/pate_2018/core.py, ``rdp_gaussian``).

    Args:
        logq: log q̃ ≤ 0 for this query.
        sigma: GNMax noise (> 0).
        orders: Rényi orders λ > 1.

    Returns:
        ε(λ) per order, never above λ/σ².
    """
    orders = np.asarray(orders, dtype=float)
    if logq > 0 or sigma <= 0 or np.any(orders <= 1):
        raise ValueError(f"need log q ≤ 0, σ > 0 and orders > 1; got {logq!r}, {sigma!r}.")
    if np.isneginf(logq):  # the answer is certain: nothing is revealed
        return np.zeros_like(orders)
    var = sigma**2
    mu2 = math.sqrt(var * -logq)
    mu1 = mu2 + 1
    out = orders / var
    mask = (orders < mu1) & (mu2 > 1)
    eps1, eps2 = mu1 / var, mu2 / var
    # The theorem's condition on q̃ (equation 4), and A > 0.
    ok = (logq <= (mu2 - 1) * eps2 - mu2 * (math.log1p(1 / (mu1 - 1)) + math.log1p(1 / (mu2 - 1)))
          and -logq > eps2) if mu2 > 1 else False
    if mask.any() and ok:
        log1q = _log1mexp(logq)  # log(1 − q̃)
        log_a = (orders - 1) * (log1q - _log1mexp((logq + eps2) * (1 - 1 / mu2)))
        log_b = (orders - 1) * (eps1 - logq / (mu1 - 1))
        bound = np.logaddexp(log1q + log_a, logq + log_b) / (orders - 1)
        out = np.where(mask, np.minimum(out, bound), out)
    return out


def independent_epsilon(n_answered: int, sigma: float, delta: float, n_checked: int = 0,
                        sigma1: float | None = None) -> float:
    """The data-independent ε of GNMax answers (and Confident-GNMax checks), by dp-accounting's RDP accountant.

    Args:
        n_answered: GNMax answers released.
        sigma: their noise.
        delta: δ of the (ε, δ) guarantee.
        n_checked: threshold checks made (Confident-GNMax: every query; 0 for plain GNMax).
        sigma1: the checks' noise (needed when ``n_checked`` > 0).

    Returns:
        ε (inf when σ = 0 and something was answered).
    """
    import dp_accounting

    if sigma == 0 and n_answered or n_checked and not sigma1:
        return math.inf
    events = []
    if n_answered:
        events.append(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(sigma / math.sqrt(2)),
                                                        int(n_answered)))
    if n_checked:
        events.append(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(sigma1), int(n_checked)))
    if not events:
        return 0.0
    acc = dp_accounting.rdp.RdpAccountant(list(ORDERS))
    acc.compose(dp_accounting.ComposedDpEvent(events))
    return float(acc.get_epsilon(delta))


def dependent_epsilon(counts_answered: np.ndarray, sigma: float, delta: float, n_checked: int = 0,
                      sigma1: float | None = None) -> tuple[float, float]:
    """The data-dependent ε: Theorem 6 per answered query, plus data-independent threshold checks.

    Args:
        counts_answered: (n_answered, K) vote counts of the answered queries.
        sigma: GNMax noise of the answers.
        delta: δ.
        n_checked: threshold checks made (0 for plain GNMax).
        sigma1: their noise.

    Returns:
        (ε, the optimal order λ).
    """
    from dp_accounting.rdp import compute_epsilon

    if sigma == 0 and len(counts_answered) or n_checked and not sigma1:
        return math.inf, 0.0
    rdp = np.zeros_like(ORDERS)
    for lq in np.atleast_1d(log_q(counts_answered, sigma)) if len(counts_answered) else []:
        rdp += rdp_gnmax_dependent(float(lq), sigma)
    if n_checked:
        rdp += n_checked * rdp_threshold(sigma1)
    eps, order = compute_epsilon(list(ORDERS), list(rdp), delta)
    return float(eps), float(order)


def sigma_for_epsilon(epsilon: float, n_queries: int, delta: float, sigma1_ratio: float | None = None) -> float:
    """The smallest GNMax σ whose data-independent ε over ``n_queries`` answers is ≤ ``epsilon``.

    Args:
        epsilon: the target ε.
        n_queries: queries, all assumed answered (the worst case for Confident-GNMax).
        delta: δ.
        sigma1_ratio: Confident-GNMax: σ₁ = ratio·σ, one check per query; None for plain GNMax.

    Returns:
        σ (bisection on log σ to 0.1%).
    """
    def eps(s):
        return independent_epsilon(n_queries, s, delta, n_queries if sigma1_ratio else 0,
                                   sigma1_ratio * s if sigma1_ratio else None)

    lo, hi = 1e-2, 1e5
    if eps(hi) > epsilon:
        raise ValueError(f"epsilon={epsilon!r} is out of reach for {n_queries} queries at δ={delta} (σ ≤ {hi:g}).")
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if eps(mid) > epsilon else (lo, mid)
        if hi / lo < 1.001:
            break
    return hi

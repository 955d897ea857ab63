"""PATE accounting: the data-independent bound equals dp-accounting's; the data-dependent bound (Theorem 6)
against its own formula, the data-independent one, and the library's conversion."""

import math

import numpy as np
import pytest

dp_accounting = pytest.importorskip("dp_accounting")
from dp_accounting.rdp import compute_epsilon  # noqa: E402
from dp_accounting.rdp.rdp_privacy_accountant import DEFAULT_RDP_ORDERS  # noqa: E402

from distill.private import accounting as A  # noqa: E402


def test_orders_are_the_librarys():
    np.testing.assert_array_equal(A.ORDERS, DEFAULT_RDP_ORDERS)


@pytest.mark.parametrize("n, sigma, checks, sigma1", [(1, 1.0, 0, None), (100, 40.0, 0, None),
                                                      (286, 40.0, 640, 150.0), (10, 5.0, 30, 10.0)])
def test_independent_epsilon_equals_the_library_and_the_closed_form_rdp(n, sigma, checks, sigma1):
    # Our RDP curve (λ/σ² per answer, λ/(2σ₁²) per check) through the library's conversion...
    rdp = n * A.rdp_gnmax_independent(sigma) + (checks * A.rdp_threshold(sigma1) if checks else 0)
    ours, _ = compute_epsilon(list(A.ORDERS), list(rdp), 1e-5)
    # ... equals the library's accountant on Gaussian events of noise multiplier σ/√2 and σ₁.
    assert A.independent_epsilon(n, sigma, 1e-5, checks, sigma1) == pytest.approx(ours, rel=1e-9)
    acc = dp_accounting.rdp.RdpAccountant()
    acc.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(sigma / math.sqrt(2)), n))
    if checks:
        acc.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(sigma1), checks))
    assert acc.get_epsilon(1e-5) == pytest.approx(ours, rel=1e-9)


def test_log_q_is_proposition_7():
    # counts (10, 4, 0), σ = 2: q ≤ ½ erfc(6/4) + ½ erfc(10/4) = 0.016947 + 0.000204 (math.erfc).
    q = 0.5 * math.erfc(6 / 4) + 0.5 * math.erfc(10 / 4)
    assert A.log_q(np.array([10, 4, 0]), 2.0) == pytest.approx(math.log(q), rel=1e-9)
    # A two-way tie: q ≤ ½ (+ two terms of ~1e−4); a four-way tie: 3 × ½, capped at 1 − 1/K = ¾.
    assert A.log_q(np.array([5, 5, 0, 0]), 1.0) == pytest.approx(math.log(0.5 + math.erfc(2.5)), rel=1e-9)
    assert A.log_q(np.array([5, 5, 5, 5]), 1.0) == pytest.approx(math.log(0.75))


def _theorem6_direct(q, sigma, lam):
    """Theorem 6 written out in plain floats (no logs), for orders where it applies."""
    mu2 = sigma * math.sqrt(math.log(1 / q))
    mu1 = mu2 + 1
    e1, e2 = mu1 / sigma**2, mu2 / sigma**2
    a = (1 - q) / (1 - (q * math.exp(e2)) ** ((mu2 - 1) / mu2))
    b = math.exp(e1) / q ** (1 / (mu1 - 1))
    return min(lam / sigma**2, math.log((1 - q) * a ** (lam - 1) + q * b ** (lam - 1)) / (lam - 1))


def test_data_dependent_rdp_matches_theorem_6_written_out():
    sigma, counts = 4.0, np.array([40, 2, 1])  # a wide margin: q̃ ≈ 1e−23
    lq = A.log_q(counts, sigma)
    rdp = A.rdp_gnmax_dependent(lq, sigma)
    mu1 = sigma * math.sqrt(-lq) + 1
    checked = 0
    for lam, r in zip(A.ORDERS, rdp, strict=True):
        if lam < mu1 and lam < 20:  # beyond ~20 the plain-float version overflows
            assert r == pytest.approx(_theorem6_direct(math.exp(lq), sigma, lam), rel=1e-6)
            checked += 1
        assert r <= lam / sigma**2 + 1e-12
    assert checked >= 50
    assert rdp[A.ORDERS == 10][0] < 0.05 * 10 / sigma**2  # far below the data-independent λ/σ² (0.0138 vs 0.625)


def test_data_dependent_bound_is_the_independent_one_where_theorem_6_does_not_apply():
    sigma = 40.0
    lq = A.log_q(np.array([130, 120]), sigma)  # a narrow margin: q̃ ≈ 0.43, the condition fails
    np.testing.assert_allclose(A.rdp_gnmax_dependent(lq, sigma), A.rdp_gnmax_independent(sigma))
    eps, _ = A.dependent_epsilon(np.tile([130, 120], (50, 1)), sigma, 1e-5)
    assert eps == pytest.approx(A.independent_epsilon(50, sigma, 1e-5), rel=1e-9)
    assert A.rdp_gnmax_dependent(-np.inf, sigma).max() == 0  # a certain answer costs nothing


def test_confident_unanimous_teachers_reach_a_small_data_dependent_epsilon():
    """The paper's MNIST setting (250 teachers, T = 200, σ₁ = 150, σ₂ = 40, 640 queries of which 286 answered)
    with near-unanimous votes: the data-dependent ε is a fraction of the data-independent one."""
    counts = np.tile([245, 3, 2, 0, 0, 0, 0, 0, 0, 0], (286, 1))
    ind = A.independent_epsilon(286, 40.0, 1e-5, 640, 150.0)
    dep, _ = A.dependent_epsilon(counts, 40.0, 1e-5, 640, 150.0)
    assert dep < 0.5 * ind and dep > 0


def test_sigma_for_epsilon_meets_the_target_tightly():
    s = A.sigma_for_epsilon(2.0, 100, 1e-5)
    assert A.independent_epsilon(100, s, 1e-5) <= 2.0 < A.independent_epsilon(100, s * 0.99, 1e-5)

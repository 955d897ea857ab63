import math

import pytest

from distill.stats import Z95, bootstrap_diff, bootstrap_mean, rate, wilson


def test_wilson_8_of_10_matches_the_value_worked_by_hand():
    # By hand, z = 1.959964, z² = 3.841459, n = 10, p = 0.8:
    #   denom  = 1 + z²/n                     = 1.384146
    #   centre = (p + z²/2n) / denom          = (0.8 + 0.192073) / 1.384146 = 0.716741
    #   half   = z √(p(1-p)/n + z²/4n²) / denom = 1.959964 × √(0.016 + 0.0096037) / 1.384146 = 0.226578
    # → [0.490163, 0.943319]; statsmodels' proportion_confint(8, 10, method="wilson") gives (0.4902, 0.9433).
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.490163, abs=2e-6) and hi == pytest.approx(0.943319, abs=2e-6)
    assert rate(8, 10) == {"value": 0.8, "low": 0.4902, "high": 0.9433, "k": 8, "n": 10}


def test_wilson_edges_and_empty():
    assert wilson(0, 0) == (0.0, 1.0) and rate(0, 0)["value"] is None
    lo, hi = wilson(0, 30)
    assert lo == 0.0 and hi == pytest.approx(Z95**2 / (30 + Z95**2), abs=1e-9)  # k = 0: z²/(n + z²)
    lo, hi = wilson(30, 30)
    assert hi == 1.0 and lo == pytest.approx(30 / (30 + Z95**2), abs=1e-9)


def test_bootstrap_mean_is_seeded_and_near_the_normal_interval():
    xs = [0.0, 1.0] * 100  # mean 0.5, standard error 0.5/√200 = 0.0354
    a, b = bootstrap_mean(xs, seed=3), bootstrap_mean(xs, seed=3)
    assert a == b and a["value"] == 0.5 and a["n"] == 200
    se = 0.5 / math.sqrt(200)
    assert a["low"] == pytest.approx(0.5 - Z95 * se, abs=0.012) and a["high"] == pytest.approx(0.5 + Z95 * se, abs=0.012)
    assert bootstrap_mean([0.3] * 20) == {"value": 0.3, "low": 0.3, "high": 0.3, "n": 20}
    assert bootstrap_mean([])["value"] is None


def test_bootstrap_diff_is_paired():
    # B is A plus 0.1 on every item: a paired interval is exactly [0.1, 0.1], an unpaired one would not be
    a = [i / 50 for i in range(50)]
    d = bootstrap_diff([x + 0.1 for x in a], a)
    assert d["value"] == pytest.approx(0.1) and d["low"] == pytest.approx(0.1) and d["high"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="equal lengths"):
        bootstrap_diff([1.0], [])

"""Metrics with hand-computed expected values."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
from distill.tabular import metrics as M  # noqa: E402


def test_ece_and_brier_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.15, 0.95])
    # bins: [0,.1): p .05 rate 0 → |.05−0|·1; [.1,.2): mean p .15, rate .5 → |.15−.5|·2; [.9,1]: |.95−1|·1
    assert M.ece(y, p) == pytest.approx((0.05 + 0.7 + 0.05) / 4)
    assert M.brier(y, p) == pytest.approx((0.05**2 + 0.15**2 + 0.85**2 + 0.05**2) / 4)
    assert [r["count"] for r in M.reliability(y, p)] == [1, 2, 1]


def test_perfectly_calibrated_constant_has_zero_ece():
    y = np.array([0, 1] * 50)
    assert M.ece(y, np.full(100, 0.5)) == pytest.approx(0.0)


def test_fairness_gaps_by_hand():
    y = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.9, 0.2, 0.8, 0.6, 0.4, 0.7, 0.3])
    g = np.array(["a"] * 4 + ["b"] * 4)
    res = M.fairness_gaps(y, p, g)
    # group a: AUC 1, TPR 1; group b: positives .4 and .7, negatives .6 and .3 → AUC 3/4, TPR 1/2
    assert res["auc_gap"] == pytest.approx(0.25) and res["tpr_gap"] == pytest.approx(0.5)
    assert res["groups"]["b"]["n"] == 4


def test_latency_is_the_median_per_row(monkeypatch):
    # A fake clock that only the "model" advances: warm-up 50 s, then timed calls of 1, 2 and 100 s.
    now = [0.0]
    durations = iter([50.0, 1.0, 2.0, 100.0])
    monkeypatch.setattr(M.time, "perf_counter", lambda: now[0])
    calls = []

    def predict(X):
        calls.append(len(X))
        now[0] += next(durations)

    assert M.latency_per_row(predict, np.zeros((10, 2)), 4, repeats=3, budget_s=1e9) == pytest.approx(2 / 4)
    assert calls == [4, 4, 4, 4]


def test_skops_size_grows_with_the_model():
    from sklearn.tree import DecisionTreeClassifier

    X = np.random.default_rng(0).normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int) ^ (np.arange(200) % 7 == 0)
    small = DecisionTreeClassifier(max_depth=1).fit(X, y)
    big = DecisionTreeClassifier().fit(X, y)
    assert 0 < M.skops_size(small) < M.skops_size(big)

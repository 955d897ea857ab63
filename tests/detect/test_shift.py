"""The traffic-level shift test: quiet on unchanged traffic, loud when extraction prompts move in."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")

from distill.detect import prompts as P  # noqa: E402
from distill.detect import shift as S  # noqa: E402


def _traffic(seed: int, shares: list[float], n: int = 200, baseline: int = 24):
    """Hourly windows of ordinary prompts (both corpora, label 0) with a share of extraction prompts (label 1)."""
    x, y = P.training_set()
    hx, hy = P.read_corpus(Path(__file__).with_name("heldout_prompts.tsv").read_text(encoding="utf-8"))
    texts, labels = x + hx, np.concatenate([y, hy])
    benign = [t for t, lab in zip(texts, labels, strict=True) if lab == 0]
    attack = [t for t, lab in zip(texts, labels, strict=True) if lab == 1]
    rng = np.random.default_rng(seed)
    rows, share = [], {}
    for h, s in enumerate([0.0] * baseline + shares):
        k = rng.binomial(n, s)
        share[h] = s
        rows += [(h, "m", p) for p in list(rng.choice(benign, n - k)) + list(rng.choice(attack, k))]
    return pd.DataFrame(rows, columns=["h", "model", "prompt"]), share


def test_quiet_on_unchanged_traffic_and_loud_on_extraction():
    w, share = _traffic(1, [0.0] * 30 + [0.5] * 10)
    r = S.scan(w, trials=200)
    r["share"] = r["h"].map(share)
    rate = r.groupby("share")["shifted"].mean()
    assert len(r) == 40 and (r["n"] == 200).all()
    assert rate[0.0] <= 0.05  # benign-vs-benign calibrated at the 99.7th percentile
    assert rate[0.5] >= 0.9


def test_same_input_same_table_whatever_the_row_order():
    w, _ = _traffic(2, [0.0] * 4 + [0.3] * 4, n=60, baseline=6)
    a = S.scan(w, trials=50)
    b = S.scan(w.sample(frac=1, random_state=3), trials=50)
    pd.testing.assert_frame_equal(a, b)
    assert not S.scan(w, trials=50, seed=1).equals(a) or len(a) == 0


def test_mmd_is_zero_in_expectation_and_positive_apart():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 4)), rng.normal(size=(300, 4))
    assert abs(S.mmd2(a, b, 0.25)) < 0.01
    assert S.mmd2(a, b + 1.0, 0.25) > 0.1
    assert S.scan(pd.DataFrame(columns=["h", "model", "prompt"])).empty

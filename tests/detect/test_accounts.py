"""Per-account evidence strengths: values at known points."""

import numpy as np
import pandas as pd
import pytest

from distill.detect import accounts as A


def test_rotation_strength():
    # a fresh block per request (10 of 10) is full rotation; one network for 50 requests is none
    assert A.rotation_strength([10, 1, 3], [10, 50, 40]).tolist() == pytest.approx([1.0, 0.0, 0.0])
    # 6 blocks over 11 requests: r = 5/10 = 0.5 → (0.5 − 0.25)/0.45, full weight from 9 requests on
    assert A.rotation_strength([6], [11])[0] == pytest.approx(0.25 / 0.45)
    assert A.rotation_strength([2], [2])[0] == 0  # too few requests to tell


def test_extract_strength_is_relative_to_background():
    s = A.extract_strength([0, 3, 30, 60], [100, 100, 100, 100], background=0.02)
    assert s[0] == 0 and s[1] == 0  # 3% is what everybody sends
    assert s[2] == pytest.approx((0.30 - 0.03) / 0.25 if (0.30 - 0.03) / 0.25 < 1 else 1.0)
    assert s[3] == 1.0
    assert A.extract_strength([2], [2], 0.02)[0] == pytest.approx(2 / 8)  # two prompts of two: little evidence


def test_wave_strength_marks_accounts_born_together():
    day = A.DAY
    t0, t1 = 0.0, 14 * day
    first = np.r_[np.arange(40) * 3 * 3600 + 2 * day, np.full(30, 5 * day + 5400.0)]  # steady signups, then a wave
    last = np.r_[np.full(40, t1), first[40:] + day]  # the wave lives one day
    w = A.wave_strength(first, last, t0, t1)
    assert (w[40:] > 0.9).all() and (w[:40] < 0.05).all()


def test_evidence_combines_by_noisy_or():
    acc = pd.DataFrame({"n_hit": [50], "n_seen": [100], "n_blocks_own": [100], "n_req_own": [100], "n_req": [100],
                        "n_days": [10], "n_hour_slots": [30], "first_t": [0.0], "last_t": [10 * A.DAY]},
                       index=pd.Index(["a"], name="account_id"))
    ev = A.evidence(acc, background=0.02, t0=0.0, t1=14 * A.DAY)
    assert ev.loc["a", "e_extract"] == 1 and ev.loc["a", "e_rotation"] == 1
    assert ev.loc["a", "s"] == pytest.approx(1 - (1 - 0.6) * (1 - 0.55), abs=1e-6)


def test_volume_counts_round_the_clock_per_active_day():
    # a person on 20 days, 3 hours a day, covers most hours of the day over the window but only 3 per day;
    # a script active 16 hours on each of its 5 days is flat; 250 requests a day is busy on its own
    v = A.volume_strength(n_req=[120, 160, 1250], n_days=[20, 5, 5], n_hour_slots=[60, 80, 10])
    assert v[0] == 0.0
    assert v[1] == pytest.approx(1.0)
    assert v[2] == pytest.approx(np.log10(250 / 60) / 1.2)
    assert A.volume_strength([20], [2], [20])[0] == 0.0  # too few requests to say

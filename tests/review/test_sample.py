import math

from distill.review.sample import estimate, sample_ids


def test_sample_is_seeded_sized_and_without_replacement():
    ids = [f"i{n}" for n in range(200)]
    a = sample_ids(ids, 0.05, seed=3)
    assert len(a) == 10 and len(set(a)) == 10 and set(a) <= set(ids)
    assert a == sample_ids(list(reversed(ids)), 0.05, seed=3)  # the same sample whatever the file order
    assert a != sample_ids(ids, 0.05, seed=4)
    assert sample_ids(ids, 0.0, 0) == ids and sample_ids(ids[:3], 0.01, 0).__len__() == 1


def test_estimate_matches_wilson_for_a_small_sample_of_a_large_population():
    # 2 of 40 rejected, N huge: plain Wilson 95% interval for 2/40 is [0.0138, 0.1650] (centre 0.0894 ± 0.0756)
    est = estimate(2, 40, 10**9)
    assert est["rate"] == 0.05
    assert math.isclose(est["lo"], 0.01382, abs_tol=1e-4) and math.isclose(est["hi"], 0.16502, abs_tol=1e-4)


def test_finite_population_correction_narrows_and_closes_at_a_census():
    wide = estimate(3, 50, 10**9)
    narrow = estimate(3, 50, 60)  # 50 of 60 seen: little left to guess
    assert narrow["lo"] > wide["lo"] and narrow["hi"] < wide["hi"]
    assert narrow["lo"] <= 0.06 <= narrow["hi"]
    census = estimate(3, 60, 60)
    assert census["lo"] == census["hi"] == 0.05


def test_no_rejection_still_gives_a_nonzero_upper_bound():
    est = estimate(0, 30, 1000)
    assert est["lo"] == 0.0 and 0.08 < est["hi"] < 0.13  # ≈ 3.8/30 (rule of three gives 0.10)
    assert estimate(0, 0, 100)["rate"] is None

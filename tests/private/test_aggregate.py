"""GNMax and Confident-GNMax: vote counting, noise of the stated size, seeded determinism."""

import numpy as np
import pytest

from distill.private.aggregate import confident_gnmax, gnmax, vote_counts


def test_vote_counts_count_each_teacher_once():
    preds = np.array([[0, 1, 2], [0, 1, 1], [2, 1, 1]])  # 3 teachers × 3 queries
    np.testing.assert_array_equal(vote_counts(preds, 3), [[2, 0, 1], [0, 3, 0], [0, 2, 1]])
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        vote_counts(np.array([[0, 3]]), 3)


def test_gnmax_without_noise_is_the_plurality_and_ties_go_to_the_lower_class():
    counts = np.array([[1, 5, 2], [3, 3, 0]])
    np.testing.assert_array_equal(gnmax(counts, 0.0, np.random.default_rng(0)), [1, 0])


def test_gnmax_noise_has_the_stated_standard_deviation():
    # Two classes with counts (0, d): the answer is class 0 iff N₀ − N₁ > d, N₀ − N₁ ~ N(0, 2σ²),
    # so Pr[class 0] = Φ(−d / (σ√2)) = 0.2398 for d = 1, σ = 1 (scipy.stats.norm.cdf(-1/√2)).
    counts = np.tile([0, 1], (200_000, 1))
    share = (gnmax(counts, 1.0, np.random.default_rng(1)) == 0).mean()
    assert share == pytest.approx(0.2398, abs=0.004)


def test_gnmax_is_deterministic_given_the_generator():
    counts = np.random.default_rng(0).integers(0, 10, size=(50, 4))
    a = gnmax(counts, 3.0, np.random.default_rng(7))
    np.testing.assert_array_equal(a, gnmax(counts, 3.0, np.random.default_rng(7)))
    assert not np.array_equal(a, gnmax(counts, 3.0, np.random.default_rng(8)))


def test_confident_gnmax_answers_only_above_the_threshold():
    counts = np.array([[9, 1, 0], [4, 3, 3], [0, 0, 10]])
    answered, labels = confident_gnmax(counts, 8, 0.0, 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(answered, [True, False, True])
    np.testing.assert_array_equal(labels, [0, -1, 2])
    # Noisy check: top count 5 against T = 5 with σ₁ = 1 passes half the time.
    answered, _ = confident_gnmax(np.tile([5, 0], (100_000, 1)), 5, 1.0, 1.0, np.random.default_rng(2))
    assert answered.mean() == pytest.approx(0.5, abs=0.01)

"""Noisy aggregation of teacher votes: GNMax and Confident-GNMax (Papernot et al., ICLR 2018, §4).

Each query is a row of vote counts n_j(x) = #{teachers predicting class j}, shape (n_queries, K).
GNMax answers argmax_j n_j + N(0, σ²); Confident-GNMax first checks, with noise N(0, σ₁²), that
the largest count clears a threshold T, and answers (by GNMax with σ₂) only the queries that pass —
the teachers' consensus is spent only where it is strong, which is where its privacy cost is low.
Ties of the noisy counts go to the lower class index (``np.argmax``), so the result is a pure
function of the counts and the generator's state.
"""

from __future__ import annotations

import numpy as np


def vote_counts(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Per query, how many teachers voted for each class.

    Args:
        predictions: (n_teachers, n_queries) class indices in [0, n_classes).
        n_classes: K.

    Returns:
        (n_queries, K) int64 counts; each row sums to n_teachers.
    """
    predictions = np.asarray(predictions)
    if predictions.ndim != 2:
        raise ValueError(f"predictions must be (n_teachers, n_queries), got shape {predictions.shape}.")
    if predictions.size and (predictions.min() < 0 or predictions.max() >= n_classes):
        raise ValueError(f"predictions must be class indices in [0, {n_classes}), got values in "
                         f"[{predictions.min()}, {predictions.max()}].")
    n_queries = predictions.shape[1]
    out = np.zeros((n_queries, n_classes), dtype=np.int64)
    for row in predictions:  # (n_queries,) one teacher's votes
        out[np.arange(n_queries), row] += 1
    return out


def gnmax(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """GNMax labels: argmax_j (n_j + N(0, σ²)), per query.

    Args:
        counts: (n_queries, K) vote counts.
        sigma: the noise's standard deviation (≥ 0; 0 = the plain plurality vote, not private).
        rng: the generator the noise is drawn from.

    Returns:
        (n_queries,) class indices.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be ≥ 0, got {sigma!r}.")
    counts = np.asarray(counts, dtype=float)
    return np.argmax(counts + sigma * rng.standard_normal(counts.shape), axis=1)


def confident_gnmax(counts: np.ndarray, threshold: float, sigma1: float, sigma2: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Confident-GNMax (Papernot et al. 2018, Algorithm 1): answer only queries whose noisy top count ≥ T.

    The threshold noise is drawn for every query first, then the GNMax noise for every query (used
    for the answered ones), so a query's answer does not depend on which other queries passed.

    Args:
        counts: (n_queries, K) vote counts.
        threshold: T, in votes.
        sigma1: standard deviation of the threshold check's noise.
        sigma2: standard deviation of the answers' (GNMax) noise.
        rng: the generator the noise is drawn from.

    Returns:
        (answered, labels): (n_queries,) booleans, and (n_queries,) class indices (−1 where not answered).
    """
    if sigma1 < 0 or sigma2 < 0:
        raise ValueError(f"sigma1 and sigma2 must be ≥ 0, got {sigma1!r} and {sigma2!r}.")
    counts = np.asarray(counts, dtype=float)
    answered = counts.max(axis=1) + sigma1 * rng.standard_normal(len(counts)) >= threshold
    labels = gnmax(counts, sigma2, rng)
    return answered, np.where(answered, labels, -1)

"""Binary-classification metrics for teacher/student comparison: AUC, calibration, fairness, latency, size."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC of scores ``p`` (n,) for 0/1 labels ``y`` (n,).

    Args:
        y: 0/1 labels (n,), both present.
        p: scores (n,), higher for class 1.

    Returns:
        The AUC in [0, 1].
    """
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the positive-class probability ``p`` (n,) against 0/1 ``y`` (n,).

    Args:
        y: 0/1 labels (n,).
        p: probabilities of class 1 (n,).

    Returns:
        The Brier score in [0, 1].
    """
    return float(np.mean((np.asarray(p, float) - y) ** 2))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-width bins of ``p`` in [0, 1]: per non-empty bin, its count, mean p and observed rate of y.

    Args:
        y: 0/1 labels (n,).
        p: probabilities of class 1 (n,), in [0, 1] (p = 1 falls in the last bin).
        bins: number of equal-width bins.

    Returns:
        One dict per non-empty bin: {"bin", "count", "mean_p", "rate"}.
    """
    idx = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    return [{"bin": b, "count": int((idx == b).sum()), "mean_p": float(p[idx == b].mean()),
             "rate": float(y[idx == b].mean())} for b in range(bins) if (idx == b).any()]


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: Σ_b (n_b / n) · |mean p_b − rate_b| over 10 equal-width bins of p.

    Args:
        y: 0/1 labels (n,).
        p: probabilities of class 1 (n,).
        bins: number of equal-width bins (10 by default).

    Returns:
        The ECE in [0, 1].
    """
    return float(sum(r["count"] * abs(r["mean_p"] - r["rate"]) for r in reliability(y, p, bins)) / len(y))


def fairness_gaps(y: np.ndarray, p: np.ndarray, group: np.ndarray, threshold: float = 0.5) -> dict:
    """Largest difference across groups of AUC and of the true-positive rate at ``threshold``
    (equal opportunity). Groups lacking one of the classes are left out of the AUC gap.

    Args:
        y: 0/1 labels (n,).
        p: probabilities of class 1 (n,).
        group: group of each row (n,).
        threshold: probability at or above which a row is predicted positive.

    Returns:
        {"auc_gap", "tpr_gap", "groups"}: the gaps (None with fewer than two groups that have a
        value), and per group {"n", "auc", "tpr"} (None where undefined).
    """
    per = {}
    for g in np.unique(group):
        m = group == g
        yg, pg = y[m], p[m]
        per[str(g)] = {"n": int(m.sum()),
                       "auc": auc(yg, pg) if len(np.unique(yg)) == 2 else None,
                       "tpr": float((pg[yg == 1] >= threshold).mean()) if (yg == 1).any() else None}

    def gap(key):
        vals = [v[key] for v in per.values() if v[key] is not None]
        return float(max(vals) - min(vals)) if len(vals) >= 2 else None

    return {"auc_gap": gap("auc"), "tpr_gap": gap("tpr"), "groups": per}


def latency_per_row(predict: Callable, X: np.ndarray, batch: int, repeats: int = 50,
                    budget_s: float = 5.0) -> float:
    """Median seconds per row of ``predict`` on batches of ``batch`` rows of ``X`` (rows reused
    cyclically when X is smaller). Median of up to ``repeats`` timed calls after one warm-up,
    stopping early after ``budget_s`` seconds, so a slow teacher does not take minutes.

    Args:
        predict: the function timed, called on a batch of rows.
        X: rows (array or DataFrame), n ≥ 1.
        batch: rows per call; with 1, each call gets another row.
        repeats: most timed calls.
        budget_s: seconds after which timing stops (once at least 5 calls were timed).

    Returns:
        Seconds per row.
    """
    n = len(X)
    take = (lambda i: X.iloc[i]) if hasattr(X, "iloc") else (lambda i: X[i])  # DataFrames too
    idx = np.arange(batch) % n
    Xb = take(idx)
    predict(Xb)  # warm-up: first-call allocations and lazy imports are not what we measure
    times: list[float] = []
    start = time.perf_counter()
    for r in range(repeats):
        rows = take((idx + r) % n) if batch == 1 else Xb  # batch 1: a different row each call
        t0 = time.perf_counter()
        predict(rows)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(times) >= 5:
            break
    return statistics.median(times) / batch


def skops_size(model) -> int:
    """Bytes of the model serialized with skops (the format `distill tabular run` saves).

    Args:
        model: a fitted estimator skops can serialize.

    Returns:
        The size in bytes.
    """
    import skops.io as sio

    return len(sio.dumps(model))

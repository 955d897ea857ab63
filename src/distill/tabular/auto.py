"""``soft_weight="auto"``: choose the soft/hard label mix and the temperature by inner cross-validation.

The teacher's out-of-fold probabilities are computed once (by ``DistilledClassifier``); this
module only refits the *student* on inner folds of the training rows, once per grid point, and
scores it against the hard labels of the inner validation fold (mean ROC AUC over the folds,
one-vs-rest macro for > 2 classes; log loss breaks ties). Candidates are tried simplest first —
hard labels (soft weight 0), then rising soft weight, then rising temperature — and the first
whose score is within ``tol`` of the best one wins, so a grid point must beat hard labels by
more than the tolerance to be chosen: a teacher whose labels carry nothing falls back to the
hard labels, and the selection's own optimism (the maximum of several noisy scores) does not
push a student off its hard-label fit for a gain that is only noise.

The inner folds reuse the outer out-of-fold labels: a training row's label came from a teacher
fitted on the other outer folds, which may hold some inner validation rows. The teacher never
saw the row it labels, which is what matters for the student; the inner score is slightly
optimistic for soft labels on sets where the teacher memorizes (none of the bundled ones
showed it).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state

from distill.tabular.students import fit_soft, has_logits, scale_logits

SOFT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the grid of soft-label weights "auto" searches
TEMPERATURES = (1.0, 2.0)  # and of temperatures (students with logits only)
TOLERANCE = 0.002  # inner-CV AUC a candidate must beat the simpler ones by
# repeats="auto" repeats the inner folds (freshly shuffled) while candidates × folds × repeats stays within this
# many fits: 3 repeats for a 5-candidate grid (trees), 1 for the 9-candidate grid of students with logits. A
# single 3-fold split of a few hundred rows is noisy enough to pick soft labels for a tree that loses to its
# hard-label fit on held-out rows (biopsy: median −0.006 AUC with one repeat, −0.000 with three).
FIT_BUDGET = 45


def soften(q: np.ndarray, T: float) -> np.ndarray:
    """Teacher probabilities at temperature T: q^(1/T), renormalized (T = 1: unchanged).

    Args:
        q: probabilities (n, K).
        T: the temperature, > 0.

    Returns:
        Probabilities (n, K).
    """
    if T == 1:
        return q
    s = np.clip(q, 1e-12, 1) ** (1 / T)
    return s / s.sum(1, keepdims=True)


def mix(q: np.ndarray, y_idx: np.ndarray, soft_weight: float, T: float) -> np.ndarray:
    """The student's targets: soft_weight · soften(q, T) + (1 − soft_weight) · one-hot(y).

    Args:
        q: the teacher's out-of-fold probabilities (n, K).
        y_idx: class indices (n,).
        soft_weight: weight of the soft labels in [0, 1].
        T: temperature of the soft labels.

    Returns:
        Targets (n, K), rows summing to 1.
    """
    return soft_weight * soften(q, T) + (1 - soft_weight) * np.eye(q.shape[1])[y_idx]


def grid(student, soft_weights=None, temperatures=None) -> list[tuple[float, float]]:
    """The (soft_weight, T) candidates, simplest first; T > 1 only for students with logits and soft weight > 0.

    Args:
        student: the student (decides whether temperatures apply).
        soft_weights: fixed soft weights (a tuple of one for a given value), or None for ``SOFT_WEIGHTS``.
        temperatures: fixed temperatures, or None for ``TEMPERATURES`` (1 alone without logits).

    Returns:
        The candidates, in preference order.
    """
    sws = SOFT_WEIGHTS if soft_weights is None else tuple(soft_weights)
    Ts = (TEMPERATURES if has_logits(student) else (1.0,)) if temperatures is None else tuple(temperatures)
    out = []
    for sw in sorted(set(sws)):
        # With soft weight 0 the temperature changes nothing: one candidate, at the T closest to 1.
        for T in sorted(set(Ts)) if sw > 0 else [min(Ts, key=lambda t: abs(t - 1))]:
            out.append((float(sw), float(T)))
    # Simplest first: hard labels, then T = 1 by rising soft weight, then the other temperatures.
    return sorted(out, key=lambda c: (c[0] > 0, c[1] != 1, c[0], c[1]))


def _score(proba: np.ndarray, y_idx: np.ndarray) -> tuple[float, float]:
    """(AUC, log loss) of probabilities (n, K) against class indices (n,)."""
    K = proba.shape[1]
    ll = float(-np.mean(np.log(np.clip(proba[np.arange(len(y_idx)), y_idx], 1e-15, 1.0))))
    present = np.unique(y_idx)
    if len(present) < 2:
        return 0.5, ll
    if K == 2:
        return float(roc_auc_score(y_idx, proba[:, 1])), ll
    # > 2 classes: one-vs-rest macro AUC over the classes this fold holds.
    aucs = [roc_auc_score(y_idx == k, proba[:, k]) for k in present]
    return float(np.mean(aucs)), ll


def repeat_count(repeats, n_candidates: int, n_splits: int) -> int:
    """How many times the inner folds are drawn.

    Args:
        repeats: an int ≥ 1, or "auto": as many as fit in ``FIT_BUDGET`` fits (at least 1).
        n_candidates: the grid's size.
        n_splits: inner folds per repeat.

    Returns:
        The number of repeats, ≥ 1.
    """
    if repeats == "auto":
        return max(1, FIT_BUDGET // (n_candidates * n_splits))
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1 or 'auto', got {repeats!r}.")
    return int(repeats)


def inner_folds(X, y_idx: np.ndarray, n_splits: int, repeats: int, random_state) -> list:
    """Stratified inner folds, ``repeats`` times reshuffled; the first repeat is exactly
    ``StratifiedKFold(n_splits, shuffle=True, random_state=random_state)``'s, so one repeat is the plain split.

    Args:
        X: the rows (n, d).
        y_idx: their class indices (n,).
        n_splits: folds per repeat.
        repeats: how many shuffles.
        random_state: None, an int or a RandomState; later repeats draw their seeds from it.

    Returns:
        ``n_splits × repeats`` (train, validation) index pairs.
    """
    seeds = [random_state]
    if repeats > 1:
        seeds += [int(s) for s in check_random_state(random_state).randint(0, 2**31 - 1, size=repeats - 1)]
    return [f for seed in seeds for f in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y_idx)]


def choose(student, X, y_idx: np.ndarray, oof: np.ndarray, classes: np.ndarray, *, cv: int = 3,
           random_state=None, soft_weights=None, temperatures=None, tol: float = TOLERANCE,
           rule: str = "tolerance", repeats="auto") -> dict:
    """Pick (soft_weight, T) for ``student`` by inner cross-validation on the training rows.

    Args:
        student: the unfitted student (cloned per fit).
        X: the training features (n, d).
        y_idx: their class indices (n,).
        oof: the teacher's out-of-fold probabilities of those rows (n, K).
        classes: the class labels (K,).
        cv: inner stratified folds (fewer when the rarer class has fewer rows).
        random_state: seeds the inner fold shuffle.
        soft_weights: the soft weights to search (None: ``SOFT_WEIGHTS``).
        temperatures: the temperatures to search (None: ``TEMPERATURES``, or 1 without logits).
        tol: a candidate wins only by more than this much inner AUC over every simpler one.
        rule: "tolerance" (the default: within ``tol`` of the best counts as a tie) or "one_se" (Breiman's
            one-standard-error rule, paired: within the larger of ``tol`` and the standard error of the
            per-fold difference to the best candidate).
        repeats: how many times the inner folds are reshuffled and the grid refitted (an int, or "auto":
            ``repeat_count``); scores are means over every fold of every repeat.

    Returns:
        {"soft_weight", "temperature", "cv", "repeats", "table"}: the choice, the folds and repeats used, and one row per
        candidate {"soft_weight", "temperature", "auc", "log_loss"} (means over the inner folds).
    """
    cands = grid(student, soft_weights, temperatures)
    n_splits = max(2, min(cv, int(np.bincount(y_idx).min())))
    if len(cands) == 1:
        sw, T = cands[0]
        return {"soft_weight": sw, "temperature": T, "cv": 0, "repeats": 0, "table": []}
    n_rep = repeat_count(repeats, len(cands), n_splits)
    folds = inner_folds(X, y_idx, n_splits, n_rep, random_state)
    scores = np.zeros((len(cands), len(folds), 2))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Stochastic Optimizer: Maximum iterations")
        for f, (tr, va) in enumerate(folds):
            Xtr = X.iloc[tr] if hasattr(X, "iloc") else X[tr]
            Xva = X.iloc[va] if hasattr(X, "iloc") else X[va]
            for c, (sw, T) in enumerate(cands):
                s = fit_soft(clone(student), Xtr, mix(oof[tr], y_idx[tr], sw, T), classes)
                if T != 1:
                    scale_logits(s, T)
                p = np.zeros((len(va), len(classes)))
                p[:, np.searchsorted(classes, s.classes_)] = s.predict_proba(Xva)
                scores[c, f] = _score(p, y_idx[va])
    if rule not in ("tolerance", "one_se"):
        raise ValueError(f"rule must be 'tolerance' or 'one_se', got {rule!r}.")
    mean = scores.mean(1)  # (candidates, 2): AUC, log loss
    b = int(mean[:, 0].argmax())
    margin = np.full(len(cands), tol)
    if rule == "one_se" and len(folds) > 1:  # paired over folds: the noise of each candidate's gap to the best
        diff = scores[b, :, 0][None, :] - scores[:, :, 0]  # (candidates, folds)
        margin = np.maximum(tol, diff.std(1, ddof=1) / np.sqrt(len(folds)))
    # Among the candidates tied with the best AUC, the simplest (they are in preference order).
    pick = int(np.flatnonzero(mean[:, 0] >= mean[b, 0] - margin)[0])
    table = [{"soft_weight": sw, "temperature": T, "auc": float(a), "log_loss": float(ll)}
             for (sw, T), (a, ll) in zip(cands, mean, strict=True)]
    return {"soft_weight": cands[pick][0], "temperature": cands[pick][1], "cv": n_splits, "repeats": n_rep,
            "table": table}

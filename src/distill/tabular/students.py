"""Student and teacher families, and how a student learns from soft labels.

Soft labels by weighted duplicated rows: each training row i is repeated once per class k with
label k and sample weight q_ik (the target probability). A student that minimizes a weighted
loss then minimizes, per row, Σ_k q_ik · loss(k, x_i):
- logistic regression and the MLP minimize Σ_k −q_ik log p_k(x_i): exactly the cross-entropy to
  the soft target, i.e. the KD loss (at T = 1; see ``scale_logits`` for T ≠ 1);
- a gradient-boosting classifier (log loss) does the same, one boosting step at a time;
- a decision tree with the Gini criterion: with soft weights a node's Gini impurity is
  2·Σ_i q_i − 2·N·p̄², and its split gain equals twice the squared-error gain of regressing q
  on x (Σ q_i and Σ q_i² do not depend on the split), so the tree is a probability-regression
  tree whose leaves predict the mean soft target.
So one mechanism serves every family that takes ``sample_weight``, and the student stays a
plain classifier with ``predict_proba`` (and skops-serializable) instead of a regressor wrapped
in custom code. Rows of zero weight are dropped (so the hard-label baseline is exactly an
ordinary fit on the labels).
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from distill.registry import Registry, registry


def _logistic(seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000)


def _tree(seed: int):
    from sklearn.tree import DecisionTreeClassifier

    # min_weight_fraction_leaf, not min_samples_leaf: duplicated rows would double-count samples.
    return DecisionTreeClassifier(max_depth=4, min_weight_fraction_leaf=0.02, random_state=seed)


def _mlp(seed: int):
    from sklearn.neural_network import MLPClassifier

    # No early stopping: its validation split would cut through a row's duplicated copies.
    return MLPClassifier(hidden_layer_sizes=(16,), alpha=1e-2, max_iter=400, random_state=seed)


def _gbm(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=50, max_depth=3, learning_rate=0.1, early_stopping=False,
                                          random_state=seed)


# The one list of student families (`distill tabular run --student`, `distill list tabular-students`).
STUDENTS: Registry[Callable[[int], object]] = registry(
    "tabular student", where=("tabular run --student",),
    logistic=(_logistic, "logistic regression (C = 1)"),
    tree=(_tree, "decision tree, depth ≤ 4, leaves ≥ 2% of the weight"),
    mlp=(_mlp, "MLP with one hidden layer of 16 units (L2 1e-2)"),
    gbm=(_gbm, "histogram gradient boosting, 50 trees of depth ≤ 3"))


def _rf(seed: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=500, min_samples_leaf=2, n_jobs=None, random_state=seed)


def _extra_trees(seed: int):
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(n_estimators=500, min_samples_leaf=2, random_state=seed)


def _gbm_teacher(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0,
                                          early_stopping=False, random_state=seed)


def _mlp_teacher(seed: int):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(128, 64), alpha=1e-2, max_iter=600, early_stopping=True,
                         random_state=seed)


# The one list of named teachers (`distill tabular run --teacher`); any estimator with predict_proba works in Python.
TEACHERS: Registry[Callable[[int], object]] = registry(
    "tabular teacher", where=("tabular run --teacher",),
    rf=(_rf, "random forest, 500 trees, leaves ≥ 2 rows"),
    extra_trees=(_extra_trees, "extremely randomized trees, 500 trees, leaves ≥ 2 rows"),
    gbm=(_gbm_teacher, "histogram gradient boosting, 300 trees of ≤ 15 leaves, learning rate 0.05"),
    mlp=(_mlp_teacher, "MLP 128-64 with early stopping"))


def make(kind: str, name: str, seed: int = 0):
    """A new, unfitted estimator from the student or teacher registry.

    Args:
        kind: "student" (``STUDENTS``) or "teacher" (``TEACHERS``).
        name: a key of that registry.
        seed: the estimator's random state.

    Returns:
        The estimator.

    Raises:
        ValueError: ``name`` is not in the registry.
    """
    reg = {"student": STUDENTS, "teacher": TEACHERS}[kind]
    if name not in reg:
        raise ValueError(f"{kind} must be one of {sorted(reg)}, got {name!r}.")
    return reg[name](seed)


def accepts_sample_weight(est) -> bool:
    """Can ``est`` learn from weighted rows? A plain estimator: its fit takes ``sample_weight``. A Pipeline,
    search or calibrator: some classifier inside it does (metadata routing hands the weights there).

    Args:
        est: any object.

    Returns:
        False as well when ``est`` has no ``fit``.
    """
    if getattr(est, "fit", None) is None:
        return False
    inner = _inner_estimators(est)
    if not inner:
        return _takes_weights(est.fit)
    return any(hasattr(e, "predict_proba") and not _inner_estimators(e) and _takes_weights(e.fit) for e in inner)


def fit_soft(student, X, targets: np.ndarray, classes: np.ndarray):
    """Fit ``student`` to soft targets by weighted duplicated rows (see the module docstring).

    Args:
        student: an unfitted estimator whose ``fit`` takes ``sample_weight``; fitted in place.
        X: (n, d) features (array or DataFrame).
        targets: (n, K) target probabilities, rows summing to 1, columns in the order of ``classes``.
        classes: (K,) class labels.

    Returns:
        The fitted student (``student`` itself).
    """
    n, K = targets.shape
    rows = np.repeat(np.arange(n), K)  # (n·K,) row i repeated K times
    labels = np.tile(np.arange(K), n)  # (n·K,) class index 0..K−1 for each copy
    w = targets.reshape(-1)  # (n·K,) weight of copy (i, k) = q_ik
    keep = w > 0
    rows, labels, w = rows[keep], labels[keep], w[keep]
    Xd = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    # The weights sum to n, as n hard-labelled rows would: regularization means what it means there.
    if not accepts_sample_weight(student):
        raise ValueError(f"student must accept fit(X, y, sample_weight=...) to learn soft labels; "
                         f"{describe(student)} does not.")
    if not _inner_estimators(student):
        student.fit(Xd, classes[labels], sample_weight=w)
        return student
    import sklearn

    # A Pipeline, a search or a calibrator: scikit-learn's metadata routing hands the weights to every inner
    # estimator whose fit (and score) takes them, e.g. the scaler and the classifier of a Pipeline.
    with sklearn.config_context(enable_metadata_routing=True):
        _request_weights(student)
        student.fit(Xd, classes[labels], sample_weight=w)
    return student


def describe(est) -> str:
    """A student's name for messages, with the estimators inside a meta-estimator.

    Args:
        est: the student.

    Returns:
        e.g. "Pipeline (of StandardScaler, LogisticRegression)".
    """
    inner = _inner_estimators(est)
    return type(est).__name__ + (f" (of {', '.join(type(e).__name__ for e in inner)})" if inner else "")


def _takes_weights(method) -> bool:

    return "sample_weight" in inspect.signature(method).parameters


def _inner_estimators(est) -> list:
    """The estimators inside a meta-estimator (Pipeline steps, a search's or calibrator's estimator), deep."""
    return [v for v in est.get_params(deep=True).values() if hasattr(v, "fit") and hasattr(v, "get_params")]


def _request_weights(est) -> list[str]:
    """Ask every inner estimator that can take ``sample_weight`` in fit (and score) for it; their names."""
    takers = []
    for inner in _inner_estimators(est):
        if hasattr(inner, "set_fit_request") and _takes_weights(inner.fit):
            inner.set_fit_request(sample_weight=True)
            takers.append(type(inner).__name__)
        if hasattr(inner, "set_score_request") and hasattr(inner, "score") and _takes_weights(inner.score):
            inner.set_score_request(sample_weight=True)
    return takers


def scale_logits(student, T: float) -> bool:
    """Multiply a fitted student's logits by ``T`` in place (exact for linear and MLP outputs).

    Trained on targets softened at temperature T, the student's logits approximate
    log q / T; scaling them by T at the end is Hinton et al.'s (2015) "student at temperature T
    during training, 1 at test time".

    Args:
        student: a fitted estimator; linear models (``coef_``) and MLPs (``coefs_``) have logits.
        T: the temperature the targets were softened at.

    Returns:
        True when the logits were scaled, False for students without logits (left unchanged).
    """
    if hasattr(student, "coef_") and hasattr(student, "intercept_"):
        student.coef_ = student.coef_ * T
        student.intercept_ = student.intercept_ * T
        return True
    if hasattr(student, "coefs_") and hasattr(student, "intercepts_"):
        student.coefs_[-1] = student.coefs_[-1] * T
        student.intercepts_[-1] = student.intercepts_[-1] * T
        return True
    return False


def has_logits(student) -> bool:
    """Whether the student has logits :func:`scale_logits` can scale (LogisticRegression, MLPClassifier).

    Args:
        student: an estimator.

    Returns:
        True for those two classes (and subclasses).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    return isinstance(student, (LogisticRegression, MLPClassifier))

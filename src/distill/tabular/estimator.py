"""`DistilledClassifier`: a teacher's out-of-fold soft labels → a small, fast student.

The teacher's labels for the training rows are made out-of-fold: the rows are split into
stratified folds, and each row's label comes from a copy of the teacher fitted on the other
folds only. A teacher that memorizes its training rows (a 1-NN, a large forest) would otherwise
hand the student near-perfect, over-confident labels on exactly the rows it learns from
("leakage"), and the student would learn that over-confidence. ``teacher_`` is the teacher
refitted on all rows, kept for comparison (and never used to label training rows).
"""

from __future__ import annotations

import logging
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from distill.tabular.auto import choose, mix
from distill.tabular.students import (
    accepts_sample_weight,
    describe,
    fit_soft,
    has_logits,
    scale_logits,
)

log = logging.getLogger(__name__)


def align_proba(proba: np.ndarray, est_classes, classes) -> np.ndarray:
    """(n, len(est_classes)) probabilities → (n, len(classes)); classes the model never saw get 0.

    Args:
        proba: a model's probabilities (n, len(est_classes)).
        est_classes: the model's ``classes_``, all among ``classes``.
        classes: all labels, sorted (K,).

    Returns:
        Probabilities (n, K).
    """
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, est_classes)] = proba
    return out


def log_loss(proba: np.ndarray, y_idx: np.ndarray) -> float:
    """Mean −log p(true class), probabilities clipped at 1e−15. proba: (n, K); y_idx: (n,) ints.

    Args:
        proba: probabilities (n, K).
        y_idx: the true classes' column indices (n,).

    Returns:
        The mean log loss in nats.
    """
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y_idx)), y_idx], 1e-15, 1.0))))


def out_of_fold_proba(teacher, X, y, classes, folds) -> np.ndarray:
    """Each row's teacher probabilities from a copy of ``teacher`` fitted without that row's fold.

    Args:
        teacher: an unfitted estimator with ``predict_proba``; cloned per fold.
        X: features (n, d).
        y: labels (n,).
        classes: sorted labels (K,).
        folds: list of (train_idx, test_idx) whose test parts cover every row exactly once.

    Returns:
        Probabilities (n, K), columns in the order of ``classes``. A fold whose training part holds
        one class only predicts that class with probability 1.
    """
    out = np.full((len(y), len(classes)), np.nan)
    for train, test in folds:
        seen = np.unique(y[train])
        if len(seen) == 1:  # a tiny set whose fold holds one class: the only honest answer is that class
            out[test] = align_proba(np.ones((len(test), 1)), seen, classes)
            continue
        t = clone(teacher).fit(X[train], y[train])
        out[test] = align_proba(t.predict_proba(X[test]), t.classes_, classes)
    return out


def _simplex_weights(oofs: list[np.ndarray], y_idx: np.ndarray) -> np.ndarray:
    """Convex weights w minimizing the out-of-fold log loss of Σ_j w_j p_j (a convex problem)."""
    from scipy.optimize import minimize

    P = np.stack(oofs)  # (J, n, K)

    def loss(z):
        w = np.exp(z - z.max())
        w /= w.sum()
        return log_loss(np.tensordot(w, P, axes=1), y_idx)

    z = minimize(loss, np.zeros(len(oofs)), method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-7}).x
    w = np.exp(z - z.max())
    return w / w.sum()


class TeacherEnsemble(ClassifierMixin, BaseEstimator):
    """Fitted teachers combined by fixed weights (what multi-teacher mode refits on all rows).

    Args:
        estimators: the teachers (unfitted; cloned by ``fit``).
        weights: one non-negative weight per teacher, used as given (``DistilledClassifier`` passes
            weights summing to 1); None: equal weights.
    """

    def __init__(self, estimators=(), weights=None):
        self.estimators = estimators
        self.weights = weights

    def fit(self, X, y):
        """Fit a clone of each teacher on all rows.

        Args:
            X: features (n, d).
            y: labels (n,).

        Returns:
            ``self``.
        """
        self.classes_ = np.unique(y)
        self.estimators_ = [clone(e).fit(X, y) for e in self.estimators]
        return self

    def predict_proba(self, X):
        """The weighted sum of the teachers' probabilities (teachers of weight 0 are skipped).

        Args:
            X: features (n, d).

        Returns:
            Probabilities (n, K), columns in the order of ``classes_``.
        """
        w = np.full(len(self.estimators_), 1 / len(self.estimators_)) if self.weights is None else self.weights
        return sum(wj * align_proba(e.predict_proba(X), e.classes_, self.classes_)
                   for wj, e in zip(w, self.estimators_, strict=True) if wj > 0)

    def predict(self, X):
        """The most probable class of each row.

        Args:
            X: features (n, d).

        Returns:
            Labels (n,).
        """
        proba = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]


class DistilledClassifier(ClassifierMixin, BaseEstimator):
    """A student classifier trained on a teacher's out-of-fold soft labels.

    Args:
        teacher: an estimator with ``predict_proba``, or a list of them (multi-teacher mode).
        student: an estimator whose ``fit`` takes ``sample_weight`` (see ``students.fit_soft``).
        cv: number of stratified folds for the out-of-fold teacher labels, or a CV splitter.
        soft_weight: weight of the teacher's soft labels in the student's targets; 1 − soft_weight
            goes to the hard labels (0: the student learns from the labels only, the baseline).
            "auto" (the default): chosen by inner cross-validation of the student on the training
            rows (``distill.tabular.auto``), hard labels included, so the student falls back to
            its hard-label fit where the teacher's labels do not help.
        alpha: the old name of ``soft_weight`` (deprecated; accepted until distill 0.3).
        temperature: soften the teacher's probabilities (q ∝ q^(1/T)) for students with logits
            (logistic regression, MLP), whose logits are multiplied by T after training. "auto"
            (the default): chosen with the soft weight (1 for students without logits).
        auto_cv: inner folds of the "auto" choice.
        auto_repeats: how many times those folds are reshuffled and refitted; "auto" (the default): as many
            as fit in a fixed budget of inner fits (``distill.tabular.auto.repeat_count``: 3 for trees,
            whose grid is small and whose inner scores are noisy; 1 for students with logits).
        combine: multi-teacher mode: "mean", "weighted" (``teacher_weights``, or convex weights
            minimizing the out-of-fold log loss), or "best" (lowest out-of-fold log loss).
        teacher_weights: fixed weights for ``combine="weighted"``.
        random_state: seeds the fold shuffle (and the inner folds of "auto").

    Attributes:
        soft_weight_: the soft-label weight used (the chosen one with "auto").
        temperature_: the temperature used.
        auto_table_: the inner-CV scores of each (soft_weight, temperature) tried by "auto" ([] otherwise).
        teacher_: the teacher (or weighted teacher ensemble) refitted on all rows.
        student_: the fitted student.
        classes_: the class labels.
        oof_proba_: (n, K) the combined out-of-fold teacher probabilities.
        student_targets_: (n, K) the soft targets the student was fitted to.
        teachers_report_: per-teacher out-of-fold log loss and weight (multi-teacher comparison).
    """

    _parameter_constraints = {
        "teacher": [HasMethods(["fit", "predict_proba"]), list, tuple],
        "student": [HasMethods(["fit", "predict_proba"])],
        "cv": [Interval(numbers.Integral, 2, None, closed="left"), HasMethods(["split"])],
        "soft_weight": [Interval(numbers.Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "alpha": [Interval(numbers.Real, 0, 1, closed="both"), StrOptions({"deprecated"})],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "auto_cv": [Interval(numbers.Integral, 2, None, closed="left")],
        "auto_repeats": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "combine": [StrOptions({"mean", "weighted", "best"})],
        "teacher_weights": [list, tuple, np.ndarray, None],
        "random_state": ["random_state"],
    }

    def __init__(self, teacher, student, *, cv=5, soft_weight="auto", temperature="auto", combine="mean",
                 teacher_weights=None, random_state=None, auto_cv=3, auto_repeats="auto", alpha="deprecated"):
        self.teacher = teacher
        self.student = student
        self.cv = cv
        self.soft_weight = soft_weight
        self.alpha = alpha
        self.temperature = temperature
        self.combine = combine
        self.teacher_weights = teacher_weights
        self.random_state = random_state
        self.auto_cv = auto_cv
        self.auto_repeats = auto_repeats

    def _teachers(self) -> list:
        ts = list(self.teacher) if isinstance(self.teacher, (list, tuple)) else [self.teacher]
        if not ts or not all(hasattr(t, "fit") and hasattr(t, "predict_proba") for t in ts):
            raise ValueError(f"teacher must be an estimator with fit and predict_proba, or a non-empty list of "
                             f"them, got {self.teacher!r}.")
        return ts

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            parts = self._teachers() + [self.student]
            tags.input_tags.allow_nan = all(get_tags(p).input_tags.allow_nan for p in parts)
        except (ValueError, AttributeError, TypeError):
            pass
        return tags

    def _validate_X(self, X, y="no_validation", reset=True):
        kw = dict(ensure_all_finite="allow-nan" if get_tags(self).input_tags.allow_nan else True)
        try:
            if isinstance(y, str) and y == "no_validation":
                return validate_data(self, X, reset=reset, **kw)
            return validate_data(self, X, y, reset=reset, ensure_min_samples=2, **kw)
        except ValueError as e:
            if "could not convert" in str(e) and hasattr(X, "columns"):
                cols = [c for c in X.columns if not np.issubdtype(np.asarray(X[c]).dtype, np.number)]
                raise ValueError(f"X has non-numeric column(s) {cols}: encode them first, e.g. "
                                 "make_pipeline(distill.tabular.make_encoder(X), DistilledClassifier(...)).") from e
            raise

    def _folds(self, X, y_idx) -> list:
        if isinstance(self.cv, numbers.Integral):
            n_splits = min(self.cv, int(np.bincount(y_idx).max()))
            if n_splits < self.cv:
                warnings.warn(f"cv={self.cv} folds need ≥ {self.cv} rows in some class; using {n_splits} folds.",
                              UserWarning, stacklevel=3)
            splitter = StratifiedKFold(n_splits=max(n_splits, 2), shuffle=True, random_state=self.random_state)
        else:
            splitter = self.cv
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            folds = list(splitter.split(X, y_idx))
        covered = np.bincount(np.concatenate([te for _, te in folds]), minlength=len(y_idx))
        if not (covered == 1).all():
            raise ValueError("cv must put every training row in exactly one test fold (out-of-fold labels need "
                             f"it); {int((covered != 1).sum())} row(s) are in none or several.")
        for train, test in folds:
            if np.intersect1d(train, test).size:
                raise ValueError("cv gave a fold whose test rows are also in its training rows (leakage).")
        return folds

    def _combine(self, oofs: list[np.ndarray], y_idx: np.ndarray) -> np.ndarray:
        J = len(oofs)
        losses = [log_loss(o, y_idx) for o in oofs]
        if J == 1 or self.combine == "mean":
            w = np.full(J, 1 / J)
        elif self.combine == "best":
            w = np.eye(J)[int(np.argmin(losses))]
        elif self.teacher_weights is not None:
            w = np.asarray(self.teacher_weights, dtype=float)
            if w.shape != (J,) or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"teacher_weights must be {J} non-negative numbers, not all 0, got "
                                 f"{self.teacher_weights!r}.")
            w = w / w.sum()
        else:
            w = _simplex_weights(oofs, y_idx)
        return w, losses

    def _soft_weight(self) -> float:
        """``soft_weight``, or the deprecated ``alpha`` when one was given (scikit-learn's convention)."""
        if isinstance(self.alpha, str):  # "deprecated": not given
            return self.soft_weight
        import warnings

        warnings.warn("DistilledClassifier(alpha=…) is now soft_weight=…; alpha is accepted until distill 0.3.",
                      FutureWarning, stacklevel=3)
        return self.alpha

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the teachers out of fold, fit the student to the soft targets, refit the teachers on all rows.

        Args:
            X: numeric features (n, d) (encode categorical columns first, e.g. with ``make_encoder``).
            y: labels (n,), at least two classes.

        Returns:
            ``self``.

        Raises:
            ValueError: a temperature ≠ 1 with a student without logits, a student whose ``fit`` takes no
                ``sample_weight``, one class only, non-numeric X, bad ``teacher_weights``, or a ``cv``
                whose test folds do not cover each row exactly once.
        """
        teachers = self._teachers()
        if self.temperature not in (1, "auto") and not has_logits(self.student):
            raise ValueError(f"temperature must be 1 for a student without logits, got {self.temperature!r} with "
                             f"{type(self.student).__name__}; use LogisticRegression or MLPClassifier for T ≠ 1.")
        if not accepts_sample_weight(self.student):
            raise ValueError(f"student must accept fit(X, y, sample_weight=...) to learn soft labels; "
                             f"{describe(self.student)} does not.")
        X, y = self._validate_X(X, y)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has 1 class only ({self.classes_[0]!r}); a classifier needs at least two.")
        folds = self._folds(X, y_idx)
        oofs = [out_of_fold_proba(t, X, y, self.classes_, folds) for t in teachers]
        w, losses = self._combine(oofs, y_idx)
        self.oof_proba_ = np.tensordot(w, np.stack(oofs), axes=1)  # (n, K)
        self.teachers_report_ = [{"teacher": type(t).__name__, "oof_log_loss": lo, "weight": float(wj)}
                                 for t, lo, wj in zip(teachers, losses, w, strict=True)]
        sw, T = self._soft_weight(), self.temperature
        self.auto_table_ = []
        if "auto" in (sw, T):
            c = choose(self.student, X, y_idx, self.oof_proba_, self.classes_, cv=self.auto_cv,
                       random_state=self.random_state, repeats=self.auto_repeats,
                       soft_weights=None if sw == "auto" else (sw,),
                       temperatures=None if T == "auto" else (T,))
            sw, T, self.auto_table_ = c["soft_weight"], c["temperature"], c["table"]
            log.info("soft_weight=auto: chose soft weight %g, temperature %g (%d-fold inner CV, %d repeats)", sw, T,
                     c["cv"], c["repeats"])
        self.soft_weight_, self.temperature_ = float(sw), float(T)
        self.student_targets_ = mix(self.oof_proba_, y_idx, sw, T)
        self.student_ = fit_soft(clone(self.student), X, self.student_targets_, self.classes_)
        if T != 1:
            scale_logits(self.student_, T)
        if len(teachers) == 1:
            self.teacher_ = clone(teachers[0]).fit(X, y)
        else:
            # All teachers are refitted (zero-weight ones are skipped when predicting) so that each
            # can be compared on held-out data.
            self.teacher_ = TeacherEnsemble(teachers, w).fit(X, y)
        return self

    def predict_proba(self, X):
        """(n, K) student probabilities, columns in the order of ``classes_``.

        Args:
            X: features (n, d), as in ``fit``.

        Returns:
            Probabilities (n, K).
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return align_proba(self.student_.predict_proba(X), self.student_.classes_, self.classes_)

    def predict(self, X):
        """The student's most probable class of each row.

        Args:
            X: features (n, d), as in ``fit``.

        Returns:
            Labels (n,).
        """
        proba = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]

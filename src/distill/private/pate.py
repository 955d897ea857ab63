"""PATE: teachers on disjoint partitions of private data, noisy aggregation, a student on public rows.

Papernot et al., "Semi-supervised knowledge transfer for deep learning from private training data"
(ICLR 2017) and "Scalable private learning with PATE" (ICLR 2018). The private rows are split into
``n_teachers`` disjoint, near-equal partitions (a seeded permutation); one copy of the teacher is
fitted on each. Public (unlabelled) rows are labelled by the teachers' noisy vote (GNMax, or
Confident-GNMax, which answers only the queries on which the teachers agree strongly), and the
student learns from the answered public rows only — it never sees a private row, so its privacy
is that of the released labels (post-processing). The paper's semi-supervised student (a GAN
using the unanswered rows too) is not implemented: the student here is any scikit-learn classifier
fitted on the answered rows.
"""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.dummy import DummyClassifier
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from distill.private import accounting as A
from distill.private.aggregate import confident_gnmax, gnmax, vote_counts

log = logging.getLogger(__name__)


def partitions(n: int, n_teachers: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint, near-equal partitions of ``n`` rows (sizes differ by at most one), from a seeded permutation.

    Args:
        n: rows.
        n_teachers: partitions (≤ n).
        rng: the generator of the permutation.

    Returns:
        ``n_teachers`` sorted index arrays that together hold each row exactly once.
    """
    if not 1 <= n_teachers <= n:
        raise ValueError(f"n_teachers must be in [1, {n}] (one row each at least), got {n_teachers!r}.")
    return [np.sort(p) for p in np.array_split(rng.permutation(n), n_teachers)]


def fit_teachers(teacher, X, y, parts: list[np.ndarray]) -> list:
    """One clone of ``teacher`` per partition (a partition holding one class gets a constant teacher).

    Args:
        teacher: an unfitted classifier.
        X: private features (n, d).
        y: private labels (n,).
        parts: disjoint row indices, one array per teacher.

    Returns:
        The fitted teachers.
    """
    out = []
    for p in parts:
        one_class = len(np.unique(y[p])) < 2
        out.append((DummyClassifier(strategy="most_frequent") if one_class else clone(teacher)).fit(X[p], y[p]))
    return out


def teacher_votes(teachers: list, X, classes: np.ndarray) -> np.ndarray:
    """The vote counts of the teachers on rows ``X``.

    Args:
        teachers: fitted classifiers whose labels are among ``classes``.
        X: query rows (n, d).
        classes: sorted class labels (K,).

    Returns:
        (n, K) counts.
    """
    preds = np.stack([np.searchsorted(classes, t.predict(X)) for t in teachers])  # (n_teachers, n)
    return vote_counts(preds, len(classes))


class PrivateClassifier(ClassifierMixin, BaseEstimator):
    """A PATE student: private rows → teachers on disjoint partitions → noisy votes on public rows → student.

    Args:
        teacher: the classifier fitted on each partition of the private rows.
        student: the classifier fitted on the answered public rows.
        n_teachers: partitions of the private rows (a private record affects one teacher's vote).
        aggregator: "gnmax" (answer every query) or "confident" (Confident-GNMax: answer a query only when
            its noisy top vote clears ``threshold``).
        epsilon: the privacy budget the noise is calibrated to (with ``sigma`` None).
        delta: δ of the (ε, δ) guarantee (keep it below 1 / the number of private rows).
        accounting: what ``epsilon`` bounds: "independent" (dp-accounting's RDP accountant, all queries
            assumed answered: the guarantee) or "dependent" (the paper's data-dependent bound on the
            answers actually given, as its reported figures use; the value itself depends on the
            private data and is not sanitized here).
        sigma: the GNMax noise σ (σ₂ of Confident-GNMax); given, it is used as is and ``epsilon`` only
            reported.
        threshold: Confident-GNMax's T, as a share of the teachers (the paper: 200 of 250 = 0.8).
        sigma1_ratio: Confident-GNMax's σ₁ = ratio · σ (the paper: 150/40 = 3.75).
        public_size: with no ``X_public`` given to ``fit``: the share of the rows whose labels are set
            aside, to play the public, unlabelled rows.
        n_queries: public rows queried (None: all of them).
        random_state: seeds the partition, the public split and the noise.

    Attributes:
        teachers_: the fitted teachers.
        student_: the fitted student.
        classes_: the class labels.
        sigma_: the GNMax noise used; sigma1_: the threshold noise (Confident-GNMax; else None).
        counts_: (n_queries, K) the teachers' vote counts on the queries.
        answered_: (n_queries,) which queries were answered; query_labels_: their labels (−1: none).
        epsilon_: the data-independent ε of the answers given (dp-accounting's RDP accountant).
        epsilon_data_dependent_: the data-dependent ε (Theorem 6), ≤ ``epsilon_`` up to the conversion.
        noise_seed_: the seed of the noise stream (drawn from ``random_state``).
        query_index_: the rows of the public data that were queried (into ``X_public``, or into ``X``
            when the public rows were set aside from it).
    """

    _parameter_constraints = {
        "teacher": [HasMethods(["fit", "predict"])],
        "student": [HasMethods(["fit", "predict"])],
        "n_teachers": [Interval(numbers.Integral, 1, None, closed="left")],
        "aggregator": [StrOptions({"gnmax", "confident"})],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "delta": [Interval(numbers.Real, 0, 1, closed="neither")],
        "accounting": [StrOptions({"independent", "dependent"})],
        "sigma": [Interval(numbers.Real, 0, None, closed="left"), None],
        "threshold": [Interval(numbers.Real, 0, 1, closed="both")],
        "sigma1_ratio": [Interval(numbers.Real, 0, None, closed="neither")],
        "public_size": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_queries": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, teacher, student, *, n_teachers=10, aggregator="gnmax", epsilon=2.0, delta=1e-5,
                 accounting="independent", sigma=None, threshold=0.6, sigma1_ratio=2.0, public_size=0.3,
                 n_queries=None, random_state=None):
        self.teacher = teacher
        self.student = student
        self.n_teachers = n_teachers
        self.aggregator = aggregator
        self.epsilon = epsilon
        self.delta = delta
        self.accounting = accounting
        self.sigma = sigma
        self.threshold = threshold
        self.sigma1_ratio = sigma1_ratio
        self.public_size = public_size
        self.n_queries = n_queries
        self.random_state = random_state

    def _seed(self) -> int:
        from sklearn.utils import check_random_state

        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _aggregate(self, counts, sigma, seed):
        rng = np.random.default_rng([seed, 1])  # the noise stream: the same for every σ tried
        if self.aggregator == "gnmax":
            return np.ones(len(counts), bool), gnmax(counts, sigma, rng), None
        s1 = self.sigma1_ratio * sigma
        answered, labels = confident_gnmax(counts, self.threshold * self.n_teachers, s1, sigma, rng)
        return answered, labels, s1

    def _epsilons(self, counts, answered, sigma, sigma1) -> tuple[float, float]:
        n_checked = len(counts) if sigma1 is not None else 0
        ind = A.independent_epsilon(int(answered.sum()), sigma, self.delta, n_checked, sigma1)
        dep, _ = A.dependent_epsilon(counts[answered], sigma, self.delta, n_checked, sigma1)
        return ind, dep

    def _calibrate(self, counts, seed) -> float:
        """σ meeting ``epsilon`` under ``accounting``."""
        ratio = self.sigma1_ratio if self.aggregator == "confident" else None
        sigma = A.sigma_for_epsilon(self.epsilon, len(counts), self.delta, ratio)  # the guarantee's σ
        if self.accounting == "independent":
            return sigma

        def dep(s):
            answered, _, s1 = self._aggregate(counts, s, seed)
            return self._epsilons(counts, answered, s, s1)[1]

        lo, hi = sigma / 1e3, sigma  # the data-dependent bound is at most the independent one
        if dep(lo) <= self.epsilon:
            return lo
        for _ in range(40):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if dep(mid) > self.epsilon else (lo, mid)
            if hi / lo < 1.002:
                break
        while dep(hi) > self.epsilon:  # the noise draws make the bound not quite monotone in σ
            hi *= 1.01
        return hi

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, X_public=None):
        """Fit the teachers on the private rows, label public rows by noisy vote, fit the student on them.

        Args:
            X: private features (n, d).
            y: private labels (n,).
            X_public: unlabelled public rows (m, d); None: a ``public_size`` share of ``X`` has its
                labels set aside and plays the public rows.

        Returns:
            ``self``.
        """
        X, y = validate_data(self, X, y, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"y has 1 class only ({self.classes_[0]!r}); a classifier needs at least two.")
        seed = self._seed()
        rng = np.random.default_rng([seed, 0])
        if X_public is None:
            order = rng.permutation(len(y))
            n_pub = max(1, min(len(y) - 1, int(round(self.public_size * len(y)))))
            pub, private = np.sort(order[:n_pub]), np.sort(order[n_pub:])
            X_pub_all, X, y = X[pub], X[private], y[private]  # the public rows' labels are never used
        else:
            X_pub_all = validate_data(self, X_public, reset=False)
            pub = np.arange(len(X_pub_all))
        q = np.arange(len(X_pub_all)) if self.n_queries is None else np.arange(min(self.n_queries, len(X_pub_all)))
        self.query_index_ = pub[q]
        parts = partitions(len(y), min(self.n_teachers, len(y)), rng)
        self.teachers_ = fit_teachers(self.teacher, X, y, parts)
        self.counts_ = teacher_votes(self.teachers_, X_pub_all[q], self.classes_)
        self.noise_seed_ = seed
        return self.fit_student(X_pub_all[q])

    def fit_student(self, X_queries):
        """Aggregate the stored votes with the current noise settings and refit the student.

        ``fit`` ends with this; call it again after ``set_params(epsilon=…)`` (or ``sigma``,
        ``aggregator``, ``accounting``, ``threshold``) to trace accuracy against ε without refitting the
        teachers. The noise stream is the one ``fit`` seeded.

        Args:
            X_queries: the queried public rows, in the order of ``counts_`` (``X_public[query_index_]``).

        Returns:
            ``self``.
        """
        check_is_fitted(self, "counts_")
        X_queries = validate_data(self, X_queries, reset=False)
        if len(X_queries) != len(self.counts_):
            raise ValueError(f"X_queries must be the {len(self.counts_)} queried rows, got {len(X_queries)}.")
        seed = self.noise_seed_
        sigma = self.sigma if self.sigma is not None else self._calibrate(self.counts_, seed)
        self.answered_, labels, self.sigma1_ = self._aggregate(self.counts_, sigma, seed)
        self.sigma_ = float(sigma)
        self.query_labels_ = labels
        self.epsilon_, self.epsilon_data_dependent_ = self._epsilons(self.counts_, self.answered_, sigma, self.sigma1_)
        Xs, ys = X_queries[self.answered_], self.classes_[labels[self.answered_]]
        if len(np.unique(ys)) < 2:
            log.warning("PATE: %d answered queries hold %d class(es); the student predicts the most frequent",
                        len(ys), len(np.unique(ys)))
            self.student_ = DummyClassifier(strategy="most_frequent").fit(
                Xs if len(ys) else X_queries[:1], ys if len(ys) else self.classes_[:1])
        else:
            self.student_ = clone(self.student).fit(Xs, ys)
        log.info("PATE: %d teachers, %d/%d queries answered (σ=%.3g), ε=%.3g (data-independent), %.3g "
                 "(data-dependent), δ=%g", len(self.teachers_), int(self.answered_.sum()), len(X_queries), sigma,
                 self.epsilon_, self.epsilon_data_dependent_, self.delta)
        return self

    def predict_proba(self, X):
        """The student's probabilities, columns in the order of ``classes_`` (0 for classes it never saw).

        Args:
            X: features (n, d).

        Returns:
            (n, K) probabilities.
        """
        from distill.tabular.estimator import align_proba

        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return align_proba(self.student_.predict_proba(X), self.student_.classes_, self.classes_)

    def predict(self, X):
        """The student's most probable class of each row.

        Args:
            X: features (n, d).

        Returns:
            Labels (n,).
        """
        proba = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]

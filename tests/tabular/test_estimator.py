"""DistilledClassifier: the out-of-fold guarantee (a test that catches leakage), modes, bad input."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")
from sklearn.base import BaseEstimator, ClassifierMixin, clone  # noqa: E402
from sklearn.dummy import DummyClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

import distill.tabular.estimator as E  # noqa: E402
from distill.tabular.estimator import DistilledClassifier, TeacherEnsemble  # noqa: E402


class Memorizer(ClassifierMixin, BaseEstimator):
    """A teacher that looks rows up: perfect, one-hot answers on rows it was fitted on, the class
    prior on any other row. Its in-fold outputs would leak the labels; out-of-fold ones cannot."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.table_ = {tuple(r): c for r, c in zip(np.asarray(X), y, strict=True)}
        self.prior_ = np.array([(y == c).mean() for c in self.classes_])
        return self

    def predict_proba(self, X):
        out = np.tile(self.prior_, (len(X), 1))
        for i, r in enumerate(np.asarray(X)):
            if tuple(r) in self.table_:
                out[i] = self.classes_ == self.table_[tuple(r)]
        return out


def data(n=120, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + 0.8 * rng.normal(size=n) > 0).astype(int)  # noisy: no teacher is perfect out of fold
    return X, y


def assert_no_leak(clf, X, y):
    """The student's targets from a Memorizer must be the class prior of the other folds, never the row's label."""
    clf.fit(X, y)
    onehot = np.eye(2)[y]
    leaked = np.isclose(clf.student_targets_, onehot).all(axis=1)
    assert not leaked.any(), f"{leaked.sum()} of {len(y)} rows were labelled by a teacher that saw them"


def test_out_of_fold_targets_never_come_from_a_teacher_that_saw_the_row():
    X, y = data()
    assert_no_leak(DistilledClassifier(Memorizer(), LogisticRegression(), cv=5, soft_weight=1.0, temperature=1.0, random_state=0), X, y)


def test_leak_check_catches_in_fold_labels(monkeypatch):
    """The same check fails on a variant that labels rows with a teacher fitted on all of them."""

    def leaky(teacher, X, y, classes, folds):
        t = clone(teacher).fit(X, y)
        return E.align_proba(t.predict_proba(X), t.classes_, classes)

    monkeypatch.setattr(E, "out_of_fold_proba", leaky)
    X, y = data()
    with pytest.raises(AssertionError, match="120 of 120 rows"):
        assert_no_leak(DistilledClassifier(Memorizer(), LogisticRegression(), cv=5, soft_weight=1.0, temperature=1.0, random_state=0), X, y)


def test_student_targets_equal_out_of_fold_predictions_of_1nn():
    # A 1-NN teacher is perfect on its own training rows; out of fold it errs on noisy data.
    X, y = data()
    clf = DistilledClassifier(KNeighborsClassifier(1), LogisticRegression(), cv=4, soft_weight=1.0, temperature=1.0, random_state=3).fit(X, y)
    expected = np.zeros((len(y), 2))
    for tr, te in StratifiedKFold(4, shuffle=True, random_state=3).split(X, y):
        expected[te] = KNeighborsClassifier(1).fit(X[tr], y[tr]).predict_proba(X[te])
    np.testing.assert_array_equal(clf.student_targets_, expected)
    in_fold = KNeighborsClassifier(1).fit(X, y).predict_proba(X)
    assert (in_fold.argmax(1) == y).all() and (expected.argmax(1) != y).sum() >= 15


def test_cv_that_puts_test_rows_in_training_is_refused():
    class Overlapping:
        def split(self, X, y):
            idx = np.arange(len(y))
            return [(idx, idx[::2]), (idx, idx[1::2])]

    X, y = data()
    with pytest.raises(ValueError, match="leakage"):
        DistilledClassifier(Memorizer(), LogisticRegression(), cv=Overlapping()).fit(X, y)


def test_soft_weight_zero_is_exactly_the_hard_label_student():
    X, y = data()
    clf = DistilledClassifier(KNeighborsClassifier(5), LogisticRegression(), soft_weight=0.0).fit(X, y)
    plain = LogisticRegression().fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), plain.predict_proba(X), atol=1e-6)


def test_soft_label_tree_leaves_predict_the_mean_soft_target():
    # A depth-1 tree on one binary feature: each leaf's probability is the mean q of its rows (Gini = MSE on q).
    X = np.repeat([[0.0], [1.0]], 4, axis=0)
    q = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    from distill.tabular.students import fit_soft

    t = fit_soft(DecisionTreeClassifier(max_depth=1), X, np.c_[1 - q, q], np.array([0, 1]))
    np.testing.assert_allclose(t.predict_proba([[0.0], [1.0]])[:, 1], [0.25, 0.75])


def test_soft_label_logistic_recovers_the_teacher_logit():
    # Targets q = σ(2x − 1) exactly: the soft cross-entropy minimum is w = 2, b = −1 (C large: no penalty).
    from distill.tabular.students import fit_soft

    X = np.linspace(-3, 3, 61)[:, None]
    q = 1 / (1 + np.exp(-(2 * X[:, 0] - 1)))
    lr = fit_soft(LogisticRegression(C=1e6, max_iter=5000, tol=1e-10), X, np.c_[1 - q, q], np.array([0, 1]))
    np.testing.assert_allclose([lr.coef_[0, 0], lr.intercept_[0]], [2.0, -1.0], atol=1e-3)


def test_temperature_softens_targets_and_rescales_the_student_logits():
    X, y = data()
    c1 = DistilledClassifier(KNeighborsClassifier(7), LogisticRegression(C=1e4), soft_weight=1.0, temperature=1.0, random_state=0).fit(X, y)
    c2 = DistilledClassifier(KNeighborsClassifier(7), LogisticRegression(C=1e4), soft_weight=1.0, temperature=2.0,
                             random_state=0).fit(X, y)
    soft = np.sqrt(np.clip(c1.oof_proba_, 1e-12, 1))
    np.testing.assert_allclose(c2.student_targets_, soft / soft.sum(1, keepdims=True))
    assert np.all(np.abs(c2.student_targets_[:, 1] - 0.5) <= np.abs(c1.student_targets_[:, 1] - 0.5) + 1e-12)
    # Fitted at T = 2 then rescaled ×2, the logits approximate the T = 1 ones; unscaled they would be ~half.
    ratio = np.abs(c2.student_.coef_[0, 0]) / np.abs(c1.student_.coef_[0, 0])
    assert 0.7 < ratio < 1.4


def test_multi_teacher_combinations():
    X, y = data(200)
    teachers = [DummyClassifier(strategy="prior"), LogisticRegression()]
    best = DistilledClassifier(teachers, LogisticRegression(), combine="best", soft_weight=1.0, temperature=1.0, random_state=0).fit(X, y)
    assert [r["weight"] for r in best.teachers_report_] == [0.0, 1.0]
    assert best.teachers_report_[1]["oof_log_loss"] < best.teachers_report_[0]["oof_log_loss"]
    mean = DistilledClassifier(teachers, LogisticRegression(), combine="mean", soft_weight=1.0, temperature=1.0, random_state=0).fit(X, y)
    assert [r["weight"] for r in mean.teachers_report_] == [0.5, 0.5]
    fixed = DistilledClassifier(teachers, LogisticRegression(), combine="weighted", teacher_weights=[3, 1],
                                random_state=0).fit(X, y)
    assert [r["weight"] for r in fixed.teachers_report_] == [0.75, 0.25]
    fitted = DistilledClassifier(teachers, LogisticRegression(), combine="weighted", soft_weight=1.0, temperature=1.0, random_state=0).fit(X, y)
    assert fitted.teachers_report_[1]["weight"] > 0.9  # the prior teacher adds nothing the optimizer wants
    assert isinstance(fixed.teacher_, TeacherEnsemble)
    parts = [e.predict_proba(X) for e in fixed.teacher_.estimators_]
    np.testing.assert_allclose(fixed.teacher_.predict_proba(X), 0.75 * parts[0] + 0.25 * parts[1])
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    P = [E.out_of_fold_proba(t, X, y, np.array([0, 1]), folds) for t in teachers]
    np.testing.assert_allclose(mean.oof_proba_, 0.5 * P[0] + 0.5 * P[1])
    np.testing.assert_allclose(best.student_targets_, P[1])


def test_string_labels_and_teacher_refit():
    X, y = data()
    labels = np.array(["healthy", "sick"])[y]
    clf = DistilledClassifier(LogisticRegression(), DecisionTreeClassifier(max_depth=2), cv=3).fit(X, labels)
    assert list(clf.classes_) == ["healthy", "sick"]
    assert set(clf.predict(X)) <= {"healthy", "sick"}
    np.testing.assert_allclose(clf.teacher_.coef_, LogisticRegression().fit(X, labels).coef_)


@pytest.mark.parametrize("kwargs, match", [
    ({"teacher": LogisticRegression(), "student": DecisionTreeClassifier(), "temperature": 2.0}, "temperature"),
    ({"teacher": LogisticRegression(), "student": KNeighborsClassifier()}, "sample_weight"),
    ({"teacher": LogisticRegression(), "student": LogisticRegression(), "soft_weight": 1.5}, "soft_weight"),
    ({"teacher": LogisticRegression(), "student": LogisticRegression(), "combine": "max"}, "combine"),
    ({"teacher": "rf", "student": LogisticRegression()}, "teacher"),
])
def test_bad_parameters_are_named(kwargs, match):
    X, y = data()
    with pytest.raises(ValueError, match=match):
        DistilledClassifier(**kwargs).fit(X, y)


def test_one_class_and_non_numeric_input_are_refused():
    X, y = data()
    with pytest.raises(ValueError, match="class"):
        DistilledClassifier(LogisticRegression(), LogisticRegression()).fit(X, np.zeros(len(y)))
    df = pd.DataFrame({"age": X[:, 0], "sex": np.where(y, "F", "M")})
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \['sex'\]"):
        DistilledClassifier(LogisticRegression(), LogisticRegression()).fit(df, y)


def test_the_old_alpha_name_still_works_with_a_warning():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    new = DistilledClassifier(LogisticRegression(), LogisticRegression(), soft_weight=0.4, random_state=0).fit(X, y)
    with pytest.warns(FutureWarning, match="now soft_weight"):
        old = DistilledClassifier(LogisticRegression(), LogisticRegression(), alpha=0.4, random_state=0).fit(X, y)
    np.testing.assert_array_equal(old.student_targets_, new.student_targets_)


@pytest.mark.parametrize("make_student", [
    lambda: __import__("sklearn.pipeline", fromlist=["make_pipeline"]).make_pipeline(
        __import__("sklearn.preprocessing", fromlist=["StandardScaler"]).StandardScaler(), LogisticRegression()),
    lambda: __import__("sklearn.model_selection", fromlist=["GridSearchCV"]).GridSearchCV(
        LogisticRegression(), {"C": [0.1, 1.0]}, cv=3),
    lambda: __import__("sklearn.calibration", fromlist=["CalibratedClassifierCV"]).CalibratedClassifierCV(
        LogisticRegression(), cv=3),
], ids=["pipeline", "grid_search", "calibrated"])
def test_meta_estimator_students_learn_soft_labels_through_metadata_routing(make_student):
    """The weights reach the inner classifier: with soft labels that disagree with y, the student follows
    the teacher (as the same plain LogisticRegression does), not the hard labels."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] > 0).astype(int)

    class Flipped(ClassifierMixin, BaseEstimator):  # a teacher that says the opposite of y
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict_proba(self, X):
            p = 1 / (1 + np.exp(4 * X[:, 0]))
            return np.c_[1 - p, p]

    clf = DistilledClassifier(Flipped(), make_student(), cv=3, soft_weight=1.0, temperature=1.0, random_state=0).fit(X, y)
    agree = (clf.predict(X) == y).mean()
    assert agree < 0.1  # learned the teacher's (flipped) labels: routed weights, not duplicated hard labels


def test_a_student_that_cannot_take_weights_is_named():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.arange(60) % 2
    with pytest.raises(ValueError, match=r"sample_weight=...\) to learn soft labels; KNeighborsClassifier does not"):
        DistilledClassifier(LogisticRegression(), KNeighborsClassifier(), cv=3).fit(X, y)
    with pytest.raises(ValueError, match=r"Pipeline \(of StandardScaler, KNeighborsClassifier\) does not"):
        DistilledClassifier(LogisticRegression(), make_pipeline(StandardScaler(with_mean=False), KNeighborsClassifier()),
                            cv=3).fit(X, y)

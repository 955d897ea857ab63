"""soft_weight="auto": the inner-CV choice of soft weight and temperature; and load_student's serving path."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from distill.tabular.auto import choose, grid, mix, soften  # noqa: E402
from distill.tabular.estimator import DistilledClassifier  # noqa: E402


class Noise(ClassifierMixin, BaseEstimator):
    """A teacher whose probabilities are uniform noise, unrelated to X or y."""

    def __init__(self, random_state=0):
        self.random_state = random_state

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        # Seeded by the rows themselves, so that the noise is deterministic but unrelated to the label.
        rng = np.random.default_rng(int(np.abs(np.asarray(X)).sum() * 1e6) % 2**32)
        p = rng.uniform(size=len(X))
        return np.c_[1 - p, p]


def data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + 0.7 * rng.normal(size=n) > 0.5).astype(int)
    return X, y


def test_grid_is_simplest_first_and_has_temperatures_only_with_logits():
    assert grid(DecisionTreeClassifier()) == [(0.0, 1.0), (0.25, 1.0), (0.5, 1.0), (0.75, 1.0), (1.0, 1.0)]
    g = grid(LogisticRegression())
    assert g[0] == (0.0, 1.0) and len(g) == 1 + 4 * 2 and g[1:5] == [(0.25, 1.0), (0.5, 1.0), (0.75, 1.0), (1.0, 1.0)]
    assert grid(LogisticRegression(), soft_weights=(0.5,)) == [(0.5, 1.0), (0.5, 2.0)]
    assert grid(LogisticRegression(), temperatures=(3.0,)) == [(0.0, 3.0), (0.25, 3.0), (0.5, 3.0), (0.75, 3.0),
                                                               (1.0, 3.0)]


def test_mix_and_soften_values():
    q = np.array([[0.2, 0.8], [0.9, 0.1]])
    # T = 2: sqrt then renormalize; 0.2^.5 = 0.4472, 0.8^.5 = 0.8944 → 1/3, 2/3.
    np.testing.assert_allclose(soften(q, 2.0)[0], [1 / 3, 2 / 3])
    np.testing.assert_allclose(mix(q, np.array([1, 1]), 0.25, 1.0), [[0.05, 0.95], [0.225, 0.775]])
    np.testing.assert_array_equal(mix(q, np.array([1, 0]), 0.0, 2.0), np.eye(2)[[1, 0]])


def test_auto_is_deterministic_given_a_seed():
    X, y = data()
    from sklearn.ensemble import RandomForestClassifier

    fits = [DistilledClassifier(RandomForestClassifier(20, random_state=0), DecisionTreeClassifier(max_depth=3,
                                random_state=0), cv=3, random_state=4).fit(X, y) for _ in range(2)]
    assert fits[0].auto_table_ == fits[1].auto_table_ and len(fits[0].auto_table_) == 5
    assert (fits[0].soft_weight_, fits[0].temperature_) == (fits[1].soft_weight_, fits[1].temperature_)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    # The chosen row is the first within the tolerance of the best inner AUC.
    t = fits[0].auto_table_
    best = max(r["auc"] for r in t)
    first = next(r for r in t if r["auc"] >= best - 0.002)
    assert (first["soft_weight"], first["temperature"]) == (fits[0].soft_weight_, fits[0].temperature_)


@pytest.mark.parametrize("student", [LogisticRegression(), DecisionTreeClassifier(max_depth=3, random_state=0)])
def test_auto_falls_back_to_hard_labels_when_the_teacher_is_noise(student):
    X, y = data()
    clf = DistilledClassifier(Noise(), student, cv=3, random_state=0).fit(X, y)
    assert clf.soft_weight_ == 0.0 and clf.temperature_ == 1.0
    hard = type(student)(**student.get_params()).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), hard.predict_proba(X), atol=1e-6)
    # With the soft weight forced to 1 the noisy targets do cost AUC on the training rows.
    forced = DistilledClassifier(Noise(), student, cv=3, soft_weight=1.0, temperature=1.0, random_state=0).fit(X, y)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, forced.predict_proba(X)[:, 1]) < roc_auc_score(y, clf.predict_proba(X)[:, 1]) - 0.05


def test_auto_picks_soft_labels_when_they_carry_what_the_labels_do_not():
    """A teacher that knows the noiseless rule: its soft labels beat the noisy hard labels for a shallow tree."""
    X, y = data(400)

    class Oracle(Noise):
        def predict_proba(self, X):
            p = 1 / (1 + np.exp(-3 * (X[:, 0] + 0.5 * X[:, 1] ** 2 - 0.5)))
            return np.c_[1 - p, p]

    c = choose(DecisionTreeClassifier(max_depth=3, random_state=0), X, y, Oracle().predict_proba(X),
               np.array([0, 1]), random_state=0)
    assert c["soft_weight"] > 0 and c["cv"] == 3 and len(c["table"]) == 5


def test_a_fixed_soft_weight_with_auto_temperature_searches_the_temperature_only():
    X, y = data(200)
    from sklearn.neighbors import KNeighborsClassifier

    clf = DistilledClassifier(KNeighborsClassifier(15), LogisticRegression(), cv=3, soft_weight=0.5,
                              random_state=0).fit(X, y)
    assert [(r["soft_weight"], r["temperature"]) for r in clf.auto_table_] == [(0.5, 1.0), (0.5, 2.0)]
    assert clf.soft_weight_ == 0.5


@pytest.mark.parametrize("student", ["logistic", "tree", "gbm"])  # the MLP translates as in test_fast.py
def test_load_student_serves_raw_rows_through_the_fastest_exact_path(student, tmp_path):
    sio = pytest.importorskip("skops.io")
    from distill.tabular.datasets import load_dataset
    from distill.tabular.export import Deployed
    from distill.tabular.run import load_student
    from tests.tabular.test_fast import fitted, with_oddities

    d = load_dataset("heart_uci")
    pipe = fitted(d.X, d.y, student)
    sio.dump(pipe, tmp_path / "student.skops")
    served = load_student(tmp_path / "student.skops")
    assert isinstance(served, Deployed)
    assert served.path == ("Pipeline" if student == "gbm" else "FastStudent")
    X = with_oddities(d.X)
    ref = pipe.predict_proba(X)
    # One raw row at a time, as a service receives them (dicts), and the whole frame at once.
    one = np.vstack([served.predict_proba(r) for r in X.to_dict("records")])
    np.testing.assert_allclose(one, ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(served.predict_proba(X), ref, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(served.predict(X), pipe.predict(X))


def test_the_one_standard_error_rule_is_never_less_conservative_and_is_refused_when_misspelt():
    """`rule="one_se"` widens the tie to the standard error of each candidate's per-fold gap to the best (never
    below the tolerance), so its choice is never further from hard labels than the default rule's; with noise
    labels both fall back to hard labels."""
    X, y = data(400)
    classes = np.array([0, 1])
    rng = np.random.default_rng(3)
    p = np.clip((X[:, 0] > 0.5) * 0.7 + rng.uniform(0, 0.3, len(y)), 0, 1)  # a weakly informative teacher
    oof = np.c_[1 - p, p]
    for seed in range(4):
        tree = DecisionTreeClassifier(max_depth=3, random_state=seed)
        a = choose(tree, X, y, oof, classes, random_state=seed)
        b = choose(tree, X, y, oof, classes, random_state=seed, rule="one_se")
        order = [(r["soft_weight"], r["temperature"]) for r in a["table"]]
        assert order.index((b["soft_weight"], b["temperature"])) <= order.index((a["soft_weight"], a["temperature"]))
        assert a["table"] == b["table"]  # the same inner scores: only the tie rule differs
    noise = Noise().predict_proba(X)
    assert choose(DecisionTreeClassifier(max_depth=3), X, y, noise, classes, random_state=0, rule="one_se")[
        "soft_weight"] == 0
    with pytest.raises(ValueError, match="rule must be"):
        choose(DecisionTreeClassifier(max_depth=3), X, y, oof, classes, rule="one-se")


def test_repeats_auto_spends_one_fit_budget_and_one_repeat_is_the_plain_split():
    """repeats="auto": 45 inner fits → 3 repeats of 3 folds for a tree's 5 candidates, 1 for the 9 of a student
    with logits (whose choice is therefore exactly the single-split one); the first repeat's folds are
    StratifiedKFold's own, and the table is the mean over every fold of every repeat."""
    from sklearn.model_selection import StratifiedKFold

    from distill.tabular.auto import inner_folds, repeat_count

    assert repeat_count("auto", 5, 3) == 3 and repeat_count("auto", 9, 3) == 1 and repeat_count("auto", 50, 3) == 1
    assert repeat_count(2, 9, 3) == 2
    for bad in (0, -1, 1.5, True, "three"):
        with pytest.raises(ValueError, match="repeats must be"):
            repeat_count(bad, 5, 3)
    X, y = data(200)
    plain = list(StratifiedKFold(3, shuffle=True, random_state=7).split(X, y))
    folds = inner_folds(X, y, 3, 3, 7)
    assert len(folds) == 9
    for (a, b), (c, d) in zip(plain, folds[:3], strict=True):
        np.testing.assert_array_equal(a, c) and np.testing.assert_array_equal(b, d)
    assert not np.array_equal(folds[3][1], folds[0][1])  # later repeats are reshuffled
    for r in range(3):  # each repeat is a partition of the rows
        assert sorted(np.concatenate([v for _, v in folds[3 * r:3 * r + 3]]).tolist()) == list(range(200))
    assert [f[1].tolist() for f in inner_folds(X, y, 3, 3, 7)] == [f[1].tolist() for f in folds]  # seeded

    classes = np.array([0, 1])
    rng = np.random.default_rng(1)
    p = np.clip((X[:, 0] > 0.5) * 0.6 + rng.uniform(0, 0.4, len(y)), 0, 1)
    oof = np.c_[1 - p, p]
    lr = LogisticRegression()
    assert choose(lr, X, y, oof, classes, random_state=3) == choose(lr, X, y, oof, classes, random_state=3, repeats=1)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0)
    three = choose(tree, X, y, oof, classes, random_state=3)
    assert three["repeats"] == 3 and three["cv"] == 3
    # Reference: the mean AUC of hard labels over the nine folds, computed here by hand.
    from sklearn.metrics import roc_auc_score

    aucs = []
    for tr, va in inner_folds(X, y, 3, 3, 3):
        s = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[tr], y[tr])
        aucs.append(roc_auc_score(y[va], s.predict_proba(X[va])[:, 1]))
    assert three["table"][0]["auc"] == pytest.approx(np.mean(aucs), abs=1e-12)

"""FastStudent: the NumPy encoder + student gives the scikit-learn pipeline's probabilities (to 1e-9) on the
bundled sets, with missing values, unseen and infrequent categories; untranslatable students are named."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from distill.tabular.datasets import DATASETS, as_categories, available, load_dataset, make_encoder  # noqa: E402
from distill.tabular.fast import FastStudent, NotTranslatable  # noqa: E402
from distill.tabular.students import STUDENTS  # noqa: E402

SETS = ["breast_cancer", "biopsy", "heart_uci", "framingham"]


def fitted(X: pd.DataFrame, y: np.ndarray, student: str):
    from sklearn.pipeline import make_pipeline

    enc = make_encoder(X).fit(X)
    return make_pipeline(enc, STUDENTS[student](0).fit(enc.transform(X), y))


def with_oddities(X: pd.DataFrame) -> pd.DataFrame:
    """Test rows: the data's own rows, plus copies with a missing cell in every column and with an unseen
    category in every categorical column."""
    rows = X.iloc[:40].copy()
    holes = X.iloc[40:50].copy()
    for i, c in enumerate(X.columns):  # row i % 10 loses column i
        holes.loc[holes.index[i % 10], c] = np.nan
    odd = X.iloc[50:55].copy()
    for c in X.columns:
        if X[c].dtype == object:
            odd[c] = "never-seen"
    return as_categories(pd.concat([rows, holes, odd]))


@pytest.mark.parametrize("student", ["logistic", "tree", "mlp"])
@pytest.mark.parametrize("name", SETS)
def test_fast_student_equals_the_pipeline(name, student):
    if not available(name):
        pytest.skip(f"{DATASETS[name].needs} is not installed")
    d = load_dataset(name)
    pipe = fitted(d.X, d.y, student)
    fast = FastStudent.from_pipeline(pipe)
    X = with_oddities(d.X)
    want = pipe.predict_proba(X)
    np.testing.assert_allclose(fast.predict_proba(X), want, rtol=0, atol=1e-9)
    rows = X.to_dict("records")
    np.testing.assert_allclose(fast.predict_proba(rows), want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.predict_proba(rows[3]), want[3:4], rtol=0, atol=1e-9)


def rare_categories():
    """Rows with a 30-valued column whose 20 rare values the encoder pools as "infrequent", None cells in
    another and missing numbers; the fitted logistic pipeline on them."""
    rng = np.random.default_rng(0)
    n = 400
    city = rng.choice([f"c{i}" for i in range(30)], n, p=np.r_[np.full(10, 0.07), np.full(20, 0.3 / 20)])
    X = as_categories(pd.DataFrame({"age": rng.normal(50, 10, n), "city": city,
                                    "sex": rng.choice(["F", "M", None], n)}))
    X.loc[::7, "age"] = np.nan
    y = (X["age"].fillna(50) > 50).to_numpy().astype(int) ^ (X["city"] == "c1").to_numpy()
    pipe = fitted(X, y, "logistic")
    assert pipe[0].named_transformers_["cat"][-1].infrequent_categories_[0] is not None  # the case is tested
    return X, pipe


def test_infrequent_and_unseen_categories_and_none():
    X, pipe = rare_categories()
    fast = FastStudent.from_pipeline(pipe)
    T = X.iloc[:30].copy()
    T.loc[T.index[:5], "city"] = "nowhere"  # unseen → the infrequent column
    T.loc[T.index[5:8], "sex"] = np.nan
    np.testing.assert_allclose(fast.predict_proba(T), pipe.predict_proba(T), rtol=0, atol=1e-9)
    row = dict(T.iloc[6])
    row["sex"] = None  # JSON's missing value reads as missing too
    np.testing.assert_allclose(fast.predict_proba(row), pipe.predict_proba(T.iloc[6:7]), rtol=0, atol=1e-9)


def test_untranslatable_student_is_named():
    d = load_dataset("breast_cancer")
    pipe = fitted(d.X.iloc[:200], d.y[:200], "gbm")
    with pytest.raises(NotTranslatable, match="HistGradientBoostingClassifier"):
        FastStudent.from_pipeline(pipe)


def test_missing_column_is_named():
    d = load_dataset("breast_cancer")
    fast = FastStudent.from_pipeline(fitted(d.X, d.y, "logistic"))
    row = d.X.iloc[0].to_dict()
    del row["mean radius"]
    with pytest.raises(ValueError, match="mean radius"):
        fast.predict_proba(row)


@pytest.mark.parametrize("student", ["logistic", "tree", "mlp"])
def test_a_saved_and_loaded_student_translates(student, tmp_path):
    """The file `distill tabular run` writes, read back with load_student, gives the same FastStudent."""
    sio = pytest.importorskip("skops.io")
    from distill.tabular.run import load_student

    d = load_dataset("breast_cancer")
    sio.dump(fitted(d.X, d.y, student), tmp_path / "student.skops")
    pipe = load_student(tmp_path / "student.skops", fast=False)
    X = with_oddities(d.X)
    np.testing.assert_allclose(FastStudent.from_pipeline(pipe).predict_proba(X), pipe.predict_proba(X),
                               rtol=0, atol=1e-9)

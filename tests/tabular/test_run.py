"""`distill tabular run`: config checks, an end-to-end run on a small CSV, the saved student, CLI errors."""

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skops")
from distill.cli import main  # noqa: E402
from distill.tabular.run import TabularRunConfig, load_student, run  # noqa: E402


@pytest.fixture(autouse=True)
def small_teacher(monkeypatch):
    """The registry's gbm teacher, with fewer rounds: these tests check the plumbing, not the teacher."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from distill.tabular.students import TEACHERS

    monkeypatch.setitem(TEACHERS, "gbm", lambda seed: HistGradientBoostingClassifier(max_iter=20, random_state=seed))
    monkeypatch.setitem(TEACHERS, "mlp", lambda seed: LogisticRegression())


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 240
    age = rng.integers(30, 80, n)
    sex = rng.choice(["F", "M"], n)
    chol = rng.normal(200, 30, n).round()
    chol[rng.random(n) < 0.1] = np.nan
    risk = 0.06 * (age - 55) + 0.5 * (sex == "M") + rng.normal(0, 1, n)
    lines = ["age,sex,chol,event"] + [
        f"{a},{s},{'' if np.isnan(c) else int(c)},{'yes' if r > 0 else 'no'}" for a, s, c, r in zip(age, sex, chol, risk, strict=True)]
    p = tmp_path / "patients.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize("kw, match", [
    ({}, "dataset"),
    ({"dataset": "pima", "csv": "x.csv", "target": "y"}, "dataset"),
    ({"dataset": "nope"}, "dataset"),
    ({"csv": "x.csv"}, "target"),
    ({"dataset": "pima", "student": "svm"}, "student"),
    ({"dataset": "pima", "teacher": ("rf", "xgb")}, "teacher"),
    ({"dataset": "pima", "student": "tree", "temperature": 2.0}, "temperature"),
    ({"dataset": "pima", "alpha": -0.1}, "alpha"),
])
def test_config_refuses_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        TabularRunConfig(**kw)


def test_run_on_a_csv_writes_report_and_a_loadable_student(csv_file, tmp_path):
    out = tmp_path / "run"
    res = run(TabularRunConfig(csv=str(csv_file), target="event", sensitive="sex", teacher=("gbm",),
                               student="logistic", cv=3, latency_repeats=3, out=str(out)))
    t, s, h = (res["models"][k] for k in ("teacher", "student", "student_hard_labels"))
    assert 0.6 < t["auc"] <= 1 and 0.6 < s["auc"] <= 1
    assert res["auc_retention"] == pytest.approx(s["auc"] / t["auc"])
    assert res["speedup_batch1"] == pytest.approx(t["latency_s_batch1"] / s["latency_s_batch1"])
    assert set(s["fairness"]["groups"]) == {"F", "M"} and s["fairness"]["auc_gap"] is not None
    assert res["rows"] == {"train": 180, "test": 60, "features": 3, "encoded_features": 5,
                           "positive_rate": pytest.approx(res["rows"]["positive_rate"])}
    assert s["size_bytes"] < t["size_bytes"]
    report = (out / "report.md").read_text()
    assert "| AUC |" in report and "reliability.png" in report and "hard labels only" in report
    assert (out / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "results.json").read_text())["auc_retention"] == pytest.approx(res["auc_retention"])
    # The saved student (encoder + model) reproduces the run's held-out AUC.
    from sklearn.model_selection import train_test_split

    from distill.tabular.datasets import load_csv
    from distill.tabular.metrics import auc

    d = load_csv(csv_file, "event")
    _, te = train_test_split(np.arange(len(d.y)), test_size=0.25, stratify=d.y, random_state=0)
    student = load_student(out / "student.skops")
    assert auc(d.y[te], student.predict_proba(d.X.iloc[te])[:, 1]) == pytest.approx(s["auc"])
    assert h["auc"] != s["auc"]


def test_cli_json_and_clear_errors(csv_file, tmp_path, capsys):
    code = main(["tabular", "run", "--csv", str(csv_file), "--target", "event", "--teacher", "gbm",
                 "--student", "tree", "--cv", "3", "--latency-repeats", "2", "--no-hard-baseline",
                 "--out", str(tmp_path / "o"), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    res = json.loads(captured.out)
    assert set(res["models"]) == {"teacher", "student"} and res["config"]["student"] == "tree"
    assert "# Tabular distillation" in captured.err
    assert main(["tabular", "run", "--csv", str(csv_file), "--target", "outcome", "--out", str(tmp_path)]) == 2
    assert "target column 'outcome' is not in patients.csv" in capsys.readouterr().err
    assert main(["tabular", "run", "--csv", str(tmp_path / "missing.csv"), "--target", "x"]) == 2
    assert "missing.csv does not exist" in capsys.readouterr().err


def test_multi_teacher_run_reports_each_teacher(csv_file, tmp_path):
    res = run(TabularRunConfig(csv=str(csv_file), target="event", teacher=("gbm", "mlp"), combine="best",
                               student="tree", cv=3, latency_repeats=1, hard_baseline=False, out=str(tmp_path)))
    names = [t["name"] for t in res["teachers"]]
    weights = [t["weight"] for t in res["teachers"]]
    assert names == ["gbm", "mlp"] and sorted(weights) == [0.0, 1.0]
    best = res["teachers"][weights.index(1.0)]
    assert best["oof_log_loss"] == min(t["oof_log_loss"] for t in res["teachers"])
    assert res["models"]["teacher"]["auc"] == pytest.approx(best["test_auc"])
    assert "| combined (best) |" in (tmp_path / "report.md").read_text()


def test_load_student_refuses_foreign_types(tmp_path):
    import skops.io as sio

    from distill.tabular.estimator import TeacherEnsemble

    sio.dump(TeacherEnsemble(), tmp_path / "m.skops")
    with pytest.raises(ValueError, match="TeacherEnsemble"):
        load_student(tmp_path / "m.skops")

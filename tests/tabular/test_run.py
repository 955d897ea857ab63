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

    monkeypatch.setitem(TEACHERS._items, "gbm", lambda seed: HistGradientBoostingClassifier(max_iter=20, random_state=seed))
    monkeypatch.setitem(TEACHERS._items, "mlp", lambda seed: LogisticRegression())


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
    ({"dataset": "pima", "soft_weight": -0.1}, "soft_weight"),
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
    # the saved file (encoder + student) is what a user copies; the table's size is the model alone
    assert res["student_file_bytes"] == (out / "student.skops").stat().st_size > s["size_bytes"]
    report = (out / "results.md").read_text()
    assert f"| model size (skops, without the encoder) | {t['size_bytes']:,} B | {s['size_bytes']:,} B |" in report
    assert (f"Sizes: student model {s['size_bytes']:,} B; saved file student.skops (student + encoder, takes raw "
            f"rows) {res['student_file_bytes']:,} B.") in report
    assert "| AUC |" in report and "reliability.png" in report and "hard labels only" in report
    # the deployed path: a NumPy translation of encoder + logistic student, exact, faster than the teacher
    d = res["deployed"]
    assert d["path"] == "FastStudent" and d["max_abs_diff"] < 1e-9 and d["speedup_end_to_end"] > 1
    assert "Deployed (raw row → probability, batch 1, FastStudent)" in report
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
    assert "| combined (best) |" in (tmp_path / "results.md").read_text()


def test_load_student_refuses_foreign_types(tmp_path):
    import skops.io as sio

    from distill.tabular.estimator import TeacherEnsemble

    sio.dump(TeacherEnsemble(), tmp_path / "m.skops")
    with pytest.raises(ValueError, match="TeacherEnsemble"):
        load_student(tmp_path / "m.skops")


def _skops_file(path, schema):
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", json.dumps({**schema, "protocol": 2, "_skops_version": "0.16.0"}))
    return path


def _node(module, cls, loader, content, **kw):
    return {"__class__": cls, "__module__": module, "__loader__": loader, "content": content, **kw}


def _exec_node(marker):
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    arg = _node("builtins", "str", "JsonNode", json.dumps(code), is_json=True)
    return _node("builtins", "exec", "ConstructorFromReduceNode", _node("builtins", "tuple", "TupleNode", [arg]))


@pytest.mark.parametrize("nested", [False, True])
def test_load_student_refuses_builtin_functions_before_building_anything(tmp_path, nested):
    """Issue 14 item 1: a schema that builds builtins.exec ran it; the allow-list is exact now."""
    marker = tmp_path / "pwned.txt"
    node = _exec_node(marker)
    if nested:  # hidden in a dict attribute, next to legitimate types
        str_type = {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
        node = _node("builtins", "dict", "DictNode",
                     {"a": _node("builtins", "str", "JsonNode", '"x"', is_json=True), "b": node},
                     key_types=_node("builtins", "list", "ListNode", [str_type, str_type]))
    f = _skops_file(tmp_path / "evil.skops", node)
    with pytest.raises(ValueError, match=r"builtins\.exec.*ConstructorFromReduceNode.*not loading it"):
        load_student(f)
    assert not marker.exists()


def test_load_student_refuses_other_sklearn_types_and_non_pipelines(tmp_path):
    import skops.io as sio
    from sklearn.svm import SVC

    sio.dump(SVC(), tmp_path / "svc.skops")
    with pytest.raises(ValueError, match=r"sklearn\.svm\._classes\.SVC"):
        load_student(tmp_path / "svc.skops")
    sio.dump({"a": [1, 2]}, tmp_path / "d.skops")
    with pytest.raises(ValueError, match="holds a dict, not the encoder"):
        load_student(tmp_path / "d.skops")
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a skops file"):
        load_student(tmp_path / "junk.skops")


@pytest.mark.parametrize("student", ["logistic", "tree", "mlp", "gbm"])
def test_every_student_family_loads(csv_file, tmp_path, student):
    out = tmp_path / student
    run(TabularRunConfig(csv=str(csv_file), target="event", teacher=("gbm",), student=student, cv=3,
                         latency_repeats=1, hard_baseline=False, out=str(out)))
    model = load_student(out / "student.skops")
    from distill.tabular.datasets import load_csv

    p = model.predict_proba(load_csv(csv_file, "event").X)[:, 1]
    assert p.shape == (240,) and 0 <= p.min() and p.max() <= 1


@pytest.mark.parametrize("student", ["tree", "gbm"])
def test_load_student_refuses_tree_nodes_pointing_out_of_bounds(csv_file, tmp_path, student):
    """skops trusts Tree / TreePredictor contents; scikit-learn follows their indices unchecked when predicting."""
    import skops.io as sio

    out = tmp_path / student
    run(TabularRunConfig(csv=str(csv_file), target="event", teacher=("gbm",), student=student, cv=3,
                         latency_repeats=1, hard_baseline=False, out=str(out)))
    model = load_student(out / "student.skops", fast=False)
    est = model[-1]
    if student == "tree":
        state = est.tree_.__getstate__()
        state["nodes"]["left_child"][0] = 10**6
        est.tree_.__setstate__(state)
    else:
        est._predictors[0][0].nodes["feature_idx"][0] = 999
    sio.dump(model, tmp_path / "bad.skops")
    with pytest.raises(ValueError, match="nodes pointing outside the tree"):
        load_student(tmp_path / "bad.skops")

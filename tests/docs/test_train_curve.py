import json

import pytest

from distill.docs.curve import DocsCurveConfig, curve
from distill.docs.evaluate import DocsEvalConfig
from distill.docs.generate import generate
from distill.docs.train import DocsTrainConfig, train
from tests.docs.fakes import ScriptedTeacher
from tests.docs.test_generate import _cfg, workdir  # noqa: F401  (fixture)

pytest.importorskip("transformers")


def test_train_on_the_dataset_then_curve_over_nested_subsets(workdir, tiny_teacher, tmp_path):  # noqa: F811
    generate(_cfg(workdir), teacher=ScriptedTeacher())
    ds = workdir / "dataset"
    n_train = len((ds / "train.jsonl").read_text().splitlines())
    assert n_train >= 3
    res = train(DocsTrainConfig(dataset=str(ds), student=str(tiny_teacher), steps=2, batch_size=2, lr=1e-3,
                                warmup=1, window=256, out=str(tmp_path / "s")))
    assert res["completed"] and (tmp_path / "s" / "model" / "config.json").exists()
    assert DocsTrainConfig(dataset=str(ds)).data == str(ds / "train.jsonl")

    cfg = DocsCurveConfig(dataset=str(ds), sizes=(2,), epochs=1.0, out=str(tmp_path / "curve"),
                          train=DocsTrainConfig(data="-", student=str(tiny_teacher), batch_size=2, lr=1e-3,
                                                warmup=1, window=256),
                          eval=DocsEvalConfig(dataset="-", student="-", compare_teacher=False, judge="none",
                                              max_tokens=8, max_items=3))
    out = curve(cfg)
    pts = out["points"]
    assert [p["examples"] for p in pts] == [2, n_train]
    assert [p["steps"] for p in pts] == [1, -(-n_train // 2)]  # ceil(epochs × n / batch)
    first = [json.loads(x)["id"] for x in (tmp_path / "curve" / "n2" / "train.jsonl").read_text().splitlines()]
    full = [json.loads(x)["id"] for x in (tmp_path / "curve" / f"n{n_train}" / "train.jsonl").read_text().splitlines()]
    assert full[:2] == first  # nested subsets of one shuffle
    assert all(0 <= p["token_f1"] <= 1 for p in pts if p["token_f1"] is not None)
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 1000
    assert "| examples |" in (tmp_path / "curve" / "results.md").read_text()

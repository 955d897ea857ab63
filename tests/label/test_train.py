import json
import random

import pytest

from distill.cli import main
from distill.label.data import headlines
from distill.label.run import LabelRunConfig, label
from distill.label.train import LabelTrainConfig, simulate_review, split, train
from tests.label.fakes import ScriptedLabeller


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    items = headlines(80, 0)
    rng = random.Random(0)
    ans = {it.text: [{"text": e["text"], "type": e["type"]} for e in it.entities if rng.random() < 0.6]
           for it in items}  # the teacher misses 40% of the entities
    label(LabelRunConfig(data="headlines", n=80, out=str(folder)), teacher=ScriptedLabeller(ans))
    return folder


def test_students_on_gold_beat_students_on_noisy_teacher_labels_and_review_sits_between(labelled):
    cfg = LabelTrainConfig(labels=str(labelled), students=("sklearn",), reviewed=(0, 30, -1),
                           eval_data="headlines", eval_n=150, eval_seed=7)
    r = train(cfg)
    rows = {x["source"]: x for x in r["rows"]}
    assert list(rows) == ["teacher", "reviewed-30", "gold"]
    assert rows["gold"]["f1_eval"] > rows["reviewed-30"]["f1_eval"] > rows["teacher"]["f1_eval"]
    assert rows["gold"]["reviewed"] == r["train_items"] == 60 and rows["gold"]["review_minutes"] == 60 * 7.5 / 60
    assert r["teacher"]["f1_gold"] < 0.85 and rows["teacher"]["f1_teacher"] > rows["teacher"]["f1_gold"] - 0.3
    sc = r["spot_checks"][0]
    assert sc["reviewed"] == 30 and sc["lo"] <= sc["true_rate"] <= sc["hi"]
    assert (labelled / "train" / "results.md").read_text().count("| sklearn |") == 3
    again = train(cfg)  # deterministic given the seed
    assert [x["f1_eval"] for x in again["rows"]] == [x["f1_eval"] for x in r["rows"]]


def test_split_and_simulated_review():
    recs = [{"id": f"{i:02d}", "teacher": "a", "gold": "b"} for i in range(20)]
    tr, te = split(recs, 0.25, 0)
    assert len(te) == 5 and {r["id"] for r in tr} | {r["id"] for r in te} == {r["id"] for r in recs}
    assert split(list(reversed(recs)), 0.25, 0) == (tr, te)  # file order does not matter
    rs, chosen = simulate_review(tr, 4, 0)
    assert len(chosen) == 4 and sum(r["label"] == "b" for r in rs) == 4
    assert all(r["label"] == "b" for r in simulate_review(tr, -1, 0)[0])


def test_cli_runs_label_run_and_train(tiny_chat_model, tmp_path, capsys):
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": f"text {i} {'good' if i % 2 else 'bad'}",
                                        "label": "pos" if i % 2 else "neg"}) + "\n" for i in range(8)))
    out = tmp_path / "run"
    assert main(["label", "run", "--data", str(data), "--teacher", str(tiny_chat_model), "--teacher-backend",
                 "transformers", "--max-tokens", "3", "--max-attempts", "2", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["task"] == "classify" and res["labelled"] == 8 and res["soft_labels"]
    s = res["teacher_stats"]
    assert s["calls"] == 8 + s["retried_items"] and s["invalid_replies"] == s["retried_items"] + s["gave_up"]
    assert main(["label", "train", str(out), "--students", "sklearn", "--reviewed", "0", "-1", "--json"]) == 0
    tr = json.loads(capsys.readouterr().out)
    assert "gold" in {r["source"] for r in tr["rows"]} and (out / "train" / "results.json").exists()
    assert {r["source"] for r in tr["rows"]} | {r["source"] for r in tr["skipped"]} >= {"teacher", "gold"}

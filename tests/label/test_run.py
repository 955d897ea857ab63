import json

import pytest

from distill.label.data import fine_foods, headlines, text_id
from distill.label.run import LabelRunConfig, label, read_records, soft_label_probs
from tests.label.fakes import ScriptedLabeller


def ner_answers(items, drop_every=0):
    out = {}
    for n, it in enumerate(items):
        ents = [{"text": e["text"], "type": e["type"]} for e in it.entities]
        out[it.text] = ents[:-1] if drop_every and n % drop_every == 0 and ents else ents
    return out


def test_invalid_replies_are_retried_counted_and_recorded(tmp_path):
    items = headlines(6, 0)
    t = ScriptedLabeller(ner_answers(items), bad_first=[items[0].text], always_bad=[items[1].text])
    r = label(LabelRunConfig(data="headlines", n=6, out=str(tmp_path), max_attempts=3), teacher=t)
    s = r["teacher_stats"]
    assert s["invalid_replies"] == 1 + 3 and s["retried_items"] == 2 and s["gave_up"] == 1
    assert s["calls"] == 6 + 1 + 2  # first tries, the one retried once, the hopeless one twice more
    recs = read_records(tmp_path / "labels.jsonl")
    bad = recs[items[1].id]
    assert bad["status"] == "invalid" and bad["teacher"] is None and len(bad["attempts"]) == 3
    assert all(not a["valid"] and "required" in a["errors"] for a in bad["attempts"])
    ok = recs[items[0].id]
    assert ok["status"] == "ok" and [a["valid"] for a in ok["attempts"]] == [False, True]
    assert [(s["start"], s["end"], s["type"]) for s in ok["teacher"]] == \
        [(e["start"], e["end"], e["type"]) for e in items[0].entities]
    # the texts the teacher labelled perfectly score 1; the one with no label counts its gold spans as missed
    n_gold = sum(len(it.entities) for it in items)
    assert r["teacher_vs_gold"]["precision"] == 1.0
    assert r["teacher_vs_gold"]["recall"] == pytest.approx((n_gold - len(items[1].entities)) / n_gold)


def test_a_rerun_skips_done_texts_and_labels_only_new_ones(tmp_path):
    items = headlines(10, 0)
    t = ScriptedLabeller(ner_answers(items))
    label(LabelRunConfig(data="headlines", n=6, out=str(tmp_path)), teacher=t)
    assert t.calls == 6
    r = label(LabelRunConfig(data="headlines", n=10, out=str(tmp_path)), teacher=t)
    assert t.calls == 10 and r["resumed"] == 6 and r["labelled"] == 10
    assert r["teacher_stats"]["all_records_cpu_seconds_per_1000"] > 0  # the cost of all 10, not of this run's 4
    assert sorted(t.seen.values()) == [1] * 10  # no text asked twice
    label(LabelRunConfig(data="headlines", n=10, out=str(tmp_path)), teacher=t)
    assert t.calls == 10


def test_a_torn_last_line_is_labelled_again(tmp_path):
    items = headlines(4, 0)
    t = ScriptedLabeller(ner_answers(items))
    label(LabelRunConfig(data="headlines", n=4, out=str(tmp_path)), teacher=t)
    path = tmp_path / "labels.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # a crash mid-write
    label(LabelRunConfig(data="headlines", n=4, out=str(tmp_path)), teacher=t)
    assert t.calls == 5 and len(read_records(path)) == 4


def test_changed_settings_are_refused_naming_them(tmp_path):
    items = headlines(3, 0)
    t = ScriptedLabeller(ner_answers(items))
    label(LabelRunConfig(data="headlines", n=3, out=str(tmp_path)), teacher=t)
    with pytest.raises(ValueError, match=r"max_attempts: 3 → 5; temperature: 0.0 → 0.3"):
        label(LabelRunConfig(data="headlines", n=3, out=str(tmp_path), temperature=0.3, max_attempts=5), teacher=t)
    with pytest.raises(ValueError, match=r"labels: \[.ORG., .PER., .LOC., .MONEY.\] → \[.ORG., .PER.\]"):
        label(LabelRunConfig(data="headlines", n=3, out=str(tmp_path), types=("ORG", "PER")), teacher=t)


def test_classification_with_a_scripted_teacher_and_the_review_set(tmp_path):
    items = fine_foods("train", 8, 0)
    answers = {it.text: it.label for it in items}
    wrong = items[0].text
    answers[wrong] = "other" if items[0].label == "great" else "great"
    r = label(LabelRunConfig(data="fine_foods", n=8, out=str(tmp_path)), teacher=ScriptedLabeller(answers))
    assert r["task"] == "classify" and r["teacher_vs_gold"]["accuracy"] == pytest.approx(7 / 8)
    rows = [json.loads(x) for x in (tmp_path / "review" / "train.jsonl").read_text().splitlines()]
    assert {x["id"] for x in rows} == {it.id for it in items} and rows[0]["kind"] == "label"
    assert json.loads(rows[0]["answer"]) == {"label": answers[next(it.text for it in items if it.id == rows[0]["id"])]}


def test_the_same_seed_gives_the_same_headlines_and_ids_hash_the_text():
    a, b = headlines(30, 5), headlines(30, 5)
    assert [x.text for x in a] == [x.text for x in b] and [x.entities for x in a] == [x.entities for x in b]
    assert [x.text for x in headlines(30, 6)] != [x.text for x in a]
    assert len({x.text for x in a}) == 30
    for it in a + headlines(30, 1, use_faker=False):
        assert all(it.text[e["start"] : e["end"]] == e["text"] for e in it.entities)
    assert a[0].id == text_id(a[0].text) and len(a[0].id) == 16


def test_soft_labels_from_a_tiny_local_model_sum_to_one(tiny_chat_model, tmp_path):
    from distill.teachers.hf import HFTeacher

    teacher = HFTeacher(str(tiny_chat_model), device="cpu")
    probs = soft_label_probs(teacher.engine, ["Is this good?", "Is this bad?"], ("great", "other", "meh"))
    for p in probs:
        assert set(p) == {"great", "other", "meh"} and sum(p.values()) == pytest.approx(1.0, abs=1e-6)
        assert all(0 <= v <= 1 for v in p.values())
    data = tmp_path / "texts.jsonl"  # short texts: the tiny model's context is short
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in
                            [("good tea", "great"), ("bad jam", "other"), ("fine oil", "great")]))
    r = label(LabelRunConfig(data=str(data), out=str(tmp_path / "out"), max_tokens=4, max_attempts=1), teacher=teacher)
    recs = list(read_records(tmp_path / "out" / "labels.jsonl").values())
    assert r["task"] == "classify" and r["labels"] == ["great", "other"] and len(recs) == 3
    assert r["soft_labels"] and all(sum(x["probs"].values()) == pytest.approx(1.0, abs=1e-6) for x in recs)

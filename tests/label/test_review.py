import json

import pytest

from distill.label.data import headlines
from distill.label.review import reviewed_labels, spot_check, write_review_set
from distill.label.run import LabelRunConfig, label, read_records
from distill.review import dataset
from distill.review.store import Store
from tests.label.fakes import ScriptedLabeller


@pytest.fixture
def labelled(tmp_path):
    items = headlines(6, 0)  # what --data headlines labels
    ans = {it.text: [{"text": e["text"], "type": e["type"]} for e in it.entities] for it in items}
    label(LabelRunConfig(data="headlines", n=6, out=str(tmp_path)), teacher=ScriptedLabeller(ans))
    return tmp_path, list(read_records(tmp_path / "labels.jsonl").values())


def test_label_records_load_as_a_review_set_and_decisions_come_back(labelled):
    folder, recs = labelled
    ds = dataset.load(folder / "review")  # the review page's own loader accepts it
    assert len(ds.items) == 6 and ds.card["kind"] == "label" and ds.chunks[recs[0]["id"]]["text"] == recs[0]["text"]
    store = Store(folder / "review" / "review.sqlite", [it["id"] for it in ds.items])
    a, b, c = recs[0], recs[1], recs[2]
    store.decide(a["id"], "approved", 0)
    store.decide(b["id"], "rejected", 0)
    fix = {"entities": [{"text": c["teacher"][0]["text"], "type": "PER"}]}
    store.decide(c["id"], "edited", 0, {"answer": json.dumps(fix)})
    store.decide(recs[3]["id"], "edited", 0, {"answer": '{"entities": [{"text": "x", "type": "NOPE"}]}'})
    kept, counts = reviewed_labels(recs, store, ["ORG", "PER", "LOC", "MONEY"])
    assert counts == {"approved": 1, "edited": 2, "rejected": 1, "pending": 2, "bad_edits": 1}
    by = {r["id"]: r for r in kept}
    assert b["id"] not in by and by[a["id"]]["label_source"] == "approved"
    assert [(s["start"], s["type"]) for s in by[c["id"]]["teacher"]] == [(c["teacher"][0]["start"], "PER")]
    assert by[recs[3]["id"]]["label_source"] == "teacher"  # a correction that breaks the schema is not used
    est = spot_check(store, population=6, ids=[r["id"] for r in recs[:4]])
    assert (est["errors"], est["reviewed"]) == (3, 4) and "rejected or corrected" in est["text"]


def test_the_page_counts_a_corrected_label_as_an_error_in_the_spot_check(labelled):
    from fastapi.testclient import TestClient

    from distill.review.app import csrf_token
    from distill.review.run import ReviewConfig, build

    folder, recs = labelled
    c = TestClient(build(ReviewConfig(dataset=str(folder / "review"), sample=0.5, seed=0), "tok"))
    c.get("/?token=tok")
    page = c.get("/").text
    assert "Sanchez" in page or "headline" in page or recs[0]["text"][:10] in page or "ner label" in page
    import re

    first = re.search(r'data-item="(\w+)"', page).group(1)
    r = c.post("/decide", data={"csrf": csrf_token("tok"), "item": first, "version": "0", "action": "edit",
                                "question": "ner label", "reasoning": "", "answer": '{"entities": []}'},
               follow_redirects=False)
    assert r.status_code == 303
    assert "1 of 1 reviewed sample items rejected or corrected: estimated error rate 100.0%" in c.get("/").text


def test_an_empty_review_set_is_still_readable(tmp_path):
    write_review_set([], tmp_path / "r", ["a", "b"])
    assert dataset.load(tmp_path / "r").items == []

"""Fuzz: a data set with hostile items is refused at start naming file and line, or every page of it renders and
every item can be decided and exported — never a traceback."""

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from distill.review.app import csrf_token  # noqa: E402
from distill.review.run import ReviewConfig, build  # noqa: E402
from tests.review.data import CHUNKS, items  # noqa: E402

TOKEN = "fuzz-token"
text = st.text(st.characters(codec="utf-8"), max_size=20)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), text)
value = st.recursive(scalar, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(text, c, max_size=3)),
                     max_leaves=8)
FIELDS = ["id", "question", "reasoning", "answer", "section", "source", "chunk_id", "split", "kind", "flags",
          "support", "support_share", "messages"]


@st.composite
def datasets(draw):
    recs = [dict(r) for r in items()]
    for _ in range(draw(st.integers(0, 4))):
        r = recs[draw(st.integers(0, len(recs) - 1))]
        key = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            r[key] = draw(value)
        else:
            r.pop(key, None)
    lines = {s: [json.dumps(r) for r in recs if r.get("split") == s] for s in ("train", "eval")}
    if draw(st.integers(0, 5)) == 0:  # now and then a line that is not a record
        split = draw(st.sampled_from(["train", "eval"]))
        lines[split].insert(0, draw(st.sampled_from(["[1]", "3", '"x"', "{", "null", '{"id": "z"' + "]" * 3])))
    return lines


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


@FUZZ
@given(lines=datasets())
def test_review_data_sets(tmp_path_factory, lines):
    ds = tmp_path_factory.mktemp("ds")
    for split, ls in lines.items():
        (ds / f"{split}.jsonl").write_text("".join(line + "\n" for line in ls))
    (ds / "chunks.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CHUNKS))
    try:
        app = build(ReviewConfig(dataset=str(ds)), TOKEN)
    except ValueError as e:
        assert ".jsonl" in str(e) or "dataset.json" in str(e), e
        return
    c = TestClient(app, raise_server_exceptions=True)
    assert c.get(f"/?token={TOKEN}").status_code == 200
    for n, it in enumerate(app.state.dataset.items):
        r = c.get("/", params={"item": it["id"]})
        assert r.status_code == 200
        action = ("approve", "edit", "reject")[n % 3]
        r = c.post("/decide", data={"csrf": csrf_token(TOKEN), "item": it["id"], "action": action, "version": 0,
                                    "question": "Edited?", "reasoning": "", "answer": "Edited."},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
    for flag in app.state.dataset.flags:
        assert c.get("/", params={"flag": flag}).status_code == 200
    r = c.post("/export", data={"csrf": csrf_token(TOKEN)})
    assert r.status_code == 200 and "Exported" in r.text

import json

import pytest

from distill.docs.generate import GenerateConfig, generate, render, spread
from distill.docs.ingest import IngestConfig, ingest
from distill.docs.quality import QualityConfig
from tests.docs.fakes import ScriptedTeacher

DOCS = {
    "guide/auth.md": "# Auth\n\nEvery request must send the API key in the X-Api-Key header. Keys expire after 90 days "
                     "and must then be rotated.\n\n## Errors\n\nAn expired key returns HTTP 401 with the code "
                     "key_expired. A revoked key returns HTTP 403 with the code key_revoked.\n",
    "guide/limits.rst": "Limits\n======\n\nEach key may make 100 requests per second. Above that the API answers "
                        "429 and sets Retry-After.\n\nBatch jobs should spread their requests over the minute.\n",
    "api.html": "<h1>Upload</h1><p>Files up to 50 MB are accepted by the upload endpoint. Larger files must be "
                "split into parts first.</p><h2>Formats</h2><p>The upload endpoint accepts CSV and Parquet files "
                "only.</p>",
}


@pytest.fixture
def workdir(tmp_path):
    src = tmp_path / "docs"
    for rel, text in DOCS.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    ingest(IngestConfig(source=str(src), out=str(tmp_path / "work"), min_section_chars=0))
    return tmp_path / "work"


def _cfg(work, **kw):
    q = kw.pop("quality", QualityConfig(grounding="lexical", unanswerable_fraction=0.2, eval_fraction=0.3))
    return GenerateConfig(workdir=str(work), questions_per_chunk=2, concurrency=3, embedder="none", quality=q,
                          product="Acme API", **kw)


def test_generate_filters_exports_and_resumes_without_repeating_calls(workdir):
    teacher = ScriptedTeacher(malformed_every=4, invent=True)
    res = generate(_cfg(workdir), teacher=teacher)
    stats = res["teacher_stats"]
    assert stats["malformed_replies"] >= 1 and stats["malformed_gave_up"] == 0  # retried with another seed
    assert res["filters"]["rejected_by_step"]["grounding"] >= 1  # the invented answers
    rejected = [json.loads(x) for x in (workdir / "rejected.jsonl").read_text().splitlines()]
    assert any("enterprise licence" in r["answer"] for r in rejected if r["step"] == "grounding")
    train = [json.loads(x) for x in (workdir / "dataset" / "train.jsonl").read_text().splitlines()]
    evals = [json.loads(x) for x in (workdir / "dataset" / "eval.jsonl").read_text().splitlines()]
    items = train + evals
    assert items and not any("enterprise licence" in r["answer"] for r in items)
    assert {r["chunk_id"] for r in train}.isdisjoint({r["chunk_id"] for r in evals})
    assert any(r["kind"] == "unanswerable" for r in items)
    r = next(r for r in items if r["kind"] == "grounded")
    assert [m["role"] for m in r["messages"]] == ["system", "user", "assistant"]
    assert "Acme API" in r["messages"][0]["content"] and r["messages"][2]["content"] == r["answer"]
    chunks = {json.loads(x)["id"]: json.loads(x) for x in (workdir / "dataset" / "chunks.jsonl").read_text().splitlines()}
    s, e = r["support"]
    assert r["answer"] in chunks[r["chunk_id"]]["text"][s:e]
    card = json.loads((workdir / "dataset" / "dataset.json").read_text())
    assert card["items"] == len(items) and card["teacher"] == "scripted"
    assert "## Removed by the filters" in (workdir / "dataset" / "README.md").read_text()

    # A second run (as after a kill) asks the teacher nothing and writes the same data set.
    calls = teacher.calls
    again = ScriptedTeacher(malformed_every=4, invent=True)
    res2 = generate(_cfg(workdir), teacher=again)
    assert again.calls == 0 and res2["teacher_stats"]["cached_calls"] == calls
    assert (workdir / "dataset" / "train.jsonl").read_text() == "\n".join(json.dumps(x, ensure_ascii=False) for x in train) + "\n"


def test_simple_template_one_pair_per_call(workdir):
    teacher = ScriptedTeacher()
    res = generate(_cfg(workdir, template="simple"), teacher=teacher)
    # one pair per call, questions_per_chunk (2) calls per chunk, each with its own seed → distinct questions
    assert res["generated"] == 2 * res["chunks_used"]
    assert teacher.calls == res["teacher_stats"]["calls"] >= 2 * res["chunks_used"]


def test_extractive_template_fixes_the_answer_and_asks_for_the_question(workdir):
    from distill.docs.generate import answer_sentences
    from distill.docs.ingest import load_chunks

    teacher = ScriptedTeacher()
    res = generate(_cfg(workdir, template="extractive"), teacher=teacher)
    chunks = {c.id: c for c in load_chunks(workdir)}
    items = [json.loads(x) for x in (workdir / "generated.jsonl").read_text().splitlines()]
    grounded = [it for it in items if it.get("kind") != "unanswerable-candidate"]
    assert grounded and res["filters"]["rejected_by_step"]["grounding"] == 0
    for it in grounded:
        assert it["answer"] in answer_sentences(chunks[it["chunk_id"]], 2) and it["question"].endswith("?")


def test_answer_sentences_pick_prose():
    from distill.docs.chunking import Chunk
    from distill.docs.generate import answer_sentences

    c = Chunk("i", "s", (), "Short. An expired key returns HTTP 401 with the error code key_expired.\n\n"
                            ">>> print('a long line of code that is not an answer at all.')\n\n"
                            "Each key may make 100 requests per second before the API answers 429.")
    assert answer_sentences(c, 5) == ["An expired key returns HTTP 401 with the error code key_expired.",
                                      "Each key may make 100 requests per second before the API answers 429."]
    assert len(answer_sentences(c, 1)) == 1


def test_teacher_that_never_answers_well_is_counted(workdir):
    class Garbage(ScriptedTeacher):
        async def chat(self, messages, **kw):
            self.calls += 1
            from distill.teachers import Completion
            return Completion("<html>502 Bad Gateway</html>", 5, 5, model="garbage")

    t = Garbage()
    res = generate(_cfg(workdir, max_attempts=2), teacher=t)
    n_jobs = res["chunks_used"]  # json template: one call per chunk
    assert res["teacher_stats"]["malformed_gave_up"] >= n_jobs and res["dataset"]["items"] == 0
    assert res["teacher_stats"]["malformed_examples"][0]["reason"]


def test_render_and_spread():
    from distill.docs.chunking import Chunk

    c = Chunk("i", "s.md", ("A", "B"), "text")
    assert "A > B" in render("{section}: {chunk} ({n})", c, 3) and "(3)" in render("{section}: {chunk} ({n})", c, 3)
    with pytest.raises(ValueError, match="placeholder"):
        render("{oops}", c, 1)
    cs = [Chunk(str(i), "s", (), str(i)) for i in range(10)]
    assert [c.id for c in spread(cs, 3)] == ["0", "3", "6"] and spread(cs, 0) == cs


@pytest.mark.parametrize("reply, question", [
    ('The sentence is "What is the difference between X and Y?', "What is the difference between X and Y?"),
    ("The question is: 'How do I rotate keys?'", "How do I rotate keys?"),
    ("Sure.\nQ: How do I rotate keys?", "How do I rotate keys?"),
    ("How do I rotate keys?", "How do I rotate keys?"),
])
def test_parse_question_unwraps_small_model_replies(reply, question):
    from distill.docs.generate import parse_question

    assert parse_question(reply)[0]["question"] == question


def test_unanswerable_questions_from_another_products_docs(workdir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "widgets.md").write_text("# Widgets\n\nThe widget daemon stores its queue in Redis and retries a failed "
                                      "delivery seven times with exponential backoff before it gives up.\n")
    q = QualityConfig(grounding="lexical", unanswerable_fraction=0.5, eval_fraction=0.3)
    res = generate(_cfg(workdir, quality=q, unanswerable_docs=str(other), unanswerable_docs_chunks=5),
                   teacher=ScriptedTeacher())
    assert res["unanswerable_candidates_by_origin"]["other-docs"] == 1
    items = [json.loads(x) for s in ("train", "eval") for x in (workdir / "dataset" / f"{s}.jsonl").read_text().splitlines()]
    mine = [it for it in items if it.get("origin") == "other-docs"]
    assert len(mine) == 1 and mine[0]["kind"] == "unanswerable" and "widget daemon" in mine[0]["question"]
    assert mine[0]["answer"].startswith("The documentation does not say")
    assert {it["origin"] for it in items if it["kind"] == "unanswerable"} <= {"other-docs", "teacher-written"}


def test_teacher_as_judge_grounding_filter(workdir):
    teacher = ScriptedTeacher(invent=True)
    q = QualityConfig(grounding="none", judge_grounding=True, unanswerable_fraction=0.0, eval_fraction=0.3)
    res = generate(_cfg(workdir, quality=q), teacher=teacher)
    assert res["teacher_stats"]["grounding_judge_calls"] == res["generated"]
    rejected = [json.loads(x) for x in (workdir / "rejected.jsonl").read_text().splitlines()]
    judged_out = [r for r in rejected if "as judge" in r.get("reason", "")]
    assert judged_out and all("enterprise licence" in r["answer"] for r in judged_out)
    items = (workdir / "dataset" / "train.jsonl").read_text() + (workdir / "dataset" / "eval.jsonl").read_text()
    assert "enterprise licence" not in items

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distill.docs.evaluate import DocsEvalConfig, evaluate, is_refusal, markdown, paired, summarise
from distill.docs.generate import generate
from distill.docs.quality import QualityConfig, filter_items, split_of
from distill.teachers import Completion
from tests.docs.fakes import ScriptedTeacher
from tests.docs.test_generate import _cfg, workdir  # noqa: F401  (fixture)


class Student:
    """Answers answerable questions with a fixed string and refuses the ones about prices and SSO;
    keeps every prompt it was sent."""

    name = "student"

    def __init__(self):
        self.prompts = []

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        q = messages[-1]["content"]
        self.prompts.append(messages)
        if "price" in q or "single sign-on" in q:
            return Completion("The documentation does not say.", 30, 6, model=self.name, latency_s=0.5)
        return Completion("Reasoning first.\n\nAnswer: keys expire after 90 days", 30, 8, model=self.name,
                          latency_s=0.5)


@pytest.mark.parametrize("text, refused", [
    ("The documentation does not say.", True), ("It doesn't mention that.", True), ("I don't know.", True),
    ("The Python documentation does not cover matplotlib.", True), ("I can't find that in the documentation.", True),
    ("This is not covered by the docs.", True), ("There is no information about prices.", True),
    ("Keys expire after 90 days.", False), ("Use the X-Api-Key header.", False),
    ("It does not raise an error; it returns None.", False), ("No, strings are immutable.", False)])
def test_refusal_detection(text, refused):
    assert is_refusal(text) is refused


def _eval_cfg(ds, tmp_path, **kw):
    return DocsEvalConfig(dataset=str(ds), student="unused", untrained="unused", out=str(tmp_path / "ev"), **kw)


def test_eval_scores_costs_and_reports(workdir, tmp_path):  # noqa: F811
    generate(_cfg(workdir), teacher=ScriptedTeacher())
    ds = workdir / "dataset"
    items = [json.loads(x) for x in (ds / "eval.jsonl").read_text().splitlines()]
    assert items, "the fixture should leave some held-out items"
    teacher = ScriptedTeacher()
    res = evaluate(_eval_cfg(ds, tmp_path, price_in=2.0, price_out=8.0, student_hourly=3.6, min_items=1,
                             min_unanswerable=0),
                   teacher=teacher, student=Student(), untrained=Student())
    assert list(res["results"]) == ["untrained", "untrained_rag", "student", "student_rag", "teacher"]
    s, t = res["results"]["student"], res["results"]["teacher"]
    una = [it for it in items if it["kind"] == "unanswerable"]
    assert s["answered"] == len(items) and s["errors"] == 0 and s["answerable"] + s["unanswerable"] == len(items)
    if una:
        assert s["refusal_rate_unanswerable"] == 1.0
        assert s["intervals"]["refusal_rate_unanswerable"]["k"] == len(una)
    assert s["false_refusal_rate"] == 0.0 and s["intervals"]["false_refusal_rate"]["low"] == 0.0
    iv = s["intervals"]["token_f1"]
    assert iv["low"] <= iv["value"] <= iv["high"] and iv["n"] == len(items) - len(una)
    # student cost: 0.5 s per answer at $3.6/hour → $0.0005 per answer → $0.5 per 1,000
    assert s["cost_per_1000"] == pytest.approx(0.5)
    # teacher cost: (mean prompt × $2 + mean completion × $8) per million, × 1,000 answers
    assert t["cost_per_1000"] == pytest.approx(round((t["mean_prompt_tokens"] * 2 + t["mean_completion_tokens"] * 8)
                                                     * 1000 / 1e6, 4))
    assert s["judge_score"] is not None and s["judged"] == len(items)
    assert res["judge_agreement"]["items"] == 42 and res["judge_agreement"]["judge"]["n"] == 42
    card = json.loads((ds / "dataset.json").read_text())
    assert res["dataset_build"]["cost"] == pytest.approx(round((card["teacher_tokens"]["prompt"] * 2
                                                                + card["teacher_tokens"]["completion"] * 8) / 1e6, 4))
    md = (tmp_path / "ev" / "results.md").read_text()
    assert "| cost per 1,000 answers, $ |" in md and (tmp_path / "ev" / "eval.png").stat().st_size > 1000
    assert "trained + retrieval" in md and "hand-labelled answers" in md and "Per section" in md
    assert set(res["per_section"]["student"]) == {it["source"] for it in items}
    if una:  # the fixture's unanswerable questions are the teacher's own
        assert s["intervals"]["refusal_rate_unanswerable_teacher-written"]["n"] == len(una)
    # a rerun reads every answer back from the recorders
    calls = teacher.calls
    evaluate(_eval_cfg(ds, tmp_path), teacher=teacher, student=Student(), untrained=Student())
    assert teacher.calls == calls


def test_retrieval_prompt_holds_the_top_chunk_of_a_question_copied_from_it(workdir, tmp_path):  # noqa: F811
    generate(_cfg(workdir), teacher=ScriptedTeacher())
    ds = workdir / "dataset"
    chunks = {json.loads(x)["id"]: json.loads(x) for x in (workdir / "chunks.jsonl").read_text().splitlines()}
    item = next(json.loads(x) for x in (ds / "eval.jsonl").read_text().splitlines() if '"grounded"' in x)
    src = chunks[item["chunk_id"]]["text"]
    # the question is a sentence of its chunk, copied: retrieval must put that chunk first
    item["question"] = item["messages"][1]["content"] = src.split(". ")[0] + "?"
    (ds / "eval.jsonl").write_text(json.dumps(item) + "\n")
    untrained = Student()
    res = evaluate(_eval_cfg(ds, tmp_path, systems=("untrained", "untrained_rag"), judge="none", top_k=1,
                             judge_check=False), untrained=untrained)
    closed, rag = untrained.prompts
    assert src not in closed[-1]["content"] and closed[-1]["content"] == item["question"]
    assert src in rag[-1]["content"] and item["question"] in rag[-1]["content"]
    assert res["retrieval"]["source_chunk_top1"]["k"] == 1 and res["retrieval"]["index_chunks"] == len(chunks)


def test_eval_refuses_a_data_set_with_a_chunk_on_both_sides(workdir, tmp_path):  # noqa: F811
    generate(_cfg(workdir), teacher=ScriptedTeacher())
    ds = workdir / "dataset"
    train = (ds / "train.jsonl").read_text().splitlines()
    ev = json.loads((ds / "eval.jsonl").read_text().splitlines()[0])
    (ds / "train.jsonl").write_text("\n".join(train + [json.dumps(ev | {"split": "train", "question": "x?"})]) + "\n")
    with pytest.raises(ValueError, match="split by chunk"):
        evaluate(_eval_cfg(ds, tmp_path, judge="none"), student=Student(), untrained=Student())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.text(min_size=8, max_size=20)), min_size=1, max_size=60),
       st.floats(0.05, 0.95))
def test_the_split_never_puts_one_chunk_on_both_sides(pairs, fraction):
    from distill.docs.chunking import Chunk

    chunks = {f"c{i}": Chunk(f"c{i}", "doc.md", ("T",), f"chunk {i} text about alpha beta gamma") for i in range(31)}
    items = [{"question": f"What about alpha beta {q}?", "answer": "alpha beta gamma", "reasoning": "",
              "chunk_id": f"c{c}"} for c, q in pairs]
    una = [{"question": f"What is the price of product {q}?", "chunk_id": f"c{c}"} for c, q in pairs]
    cfg = QualityConfig(grounding="none", eval_fraction=fraction, unanswerable_fraction=0.3, max_per_chunk=100,
                        dedup_similarity=1.0, min_question_support=0)
    kept, _, _ = filter_items(items, una, chunks, cfg)
    side = {}
    for it in kept:
        assert side.setdefault(it["chunk_id"], it["split"]) == it["split"]
        assert it["split"] == split_of(it["chunk_id"], fraction)


def test_summaries_and_paired_differences():
    rows_a = [{"id": str(i), "kind": "grounded", "f1": 0.6, "em": False, "refused": False, "grounding": 1.0,
               "latency_s": 1.0, "prompt_tokens": 10, "completion_tokens": 5, "answer": f"a{i}", "source": "s"}
              for i in range(10)]
    rows_a += [{"id": f"u{i}", "kind": "unanswerable", "f1": 0.0, "em": False, "refused": i < 8, "grounding": None,
                "latency_s": 1.0, "prompt_tokens": 10, "completion_tokens": 5, "answer": f"u{i}", "source": "s"}
               for i in range(10)]
    s = summarise(rows_a)
    assert s["intervals"]["refusal_rate_unanswerable"] == {"value": 0.8, "low": 0.4902, "high": 0.9433, "k": 8, "n": 10}
    rows_b = [r | {"f1": 0.2, "refused": False} for r in rows_a]
    p = paired(rows_a, rows_b)
    assert p["token_f1"]["value"] == pytest.approx(0.4) and p["token_f1"]["low"] == pytest.approx(0.4)
    assert p["refusal_rate_unanswerable"]["value"] == pytest.approx(0.8)
    res = {"items": 20, "unanswerable_items": 10, "results": {"student": s}, "dataset_build":
           {"teacher_prompt_tokens": 0, "teacher_completion_tokens": 0, "cost": None}, "config": {}}
    assert "0.800 [0.490, 0.943] (8/10)" in markdown(res)


class BlankStudent(Student):
    """A collapsed student: newlines whatever the question."""

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        return Completion("\n\n\n", 30, 3, model=self.name, latency_s=0.5)


def test_eval_says_plainly_that_a_blank_student_has_collapsed(workdir, tmp_path):  # noqa: F811
    generate(_cfg(workdir), teacher=ScriptedTeacher())
    ds = workdir / "dataset"
    n = len((ds / "eval.jsonl").read_text().splitlines())
    res = evaluate(_eval_cfg(ds, tmp_path, judge="none", compare_teacher=False, systems=("student",),
                             judge_check=False), student=BlankStudent())
    c = res["results"]["student"]["collapse"]
    assert c["collapsed"] and c["blank"] == n == c["answers"]
    assert c["reasons"][0] == f"{n}/{n} answers are whitespace only"
    md = (tmp_path / "ev" / "results.md").read_text()
    assert f"**The student has collapsed: {n}/{n} answers are whitespace only" in md

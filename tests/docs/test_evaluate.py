import json

import pytest

from distill.docs.evaluate import DocsEvalConfig, evaluate, is_refusal
from distill.docs.generate import generate
from distill.teachers import Completion
from tests.docs.fakes import ScriptedTeacher
from tests.docs.test_generate import _cfg, workdir  # noqa: F401  (fixture)


class Student:
    """Answers answerable questions with a fixed string and refuses the ones about prices and SSO."""

    name = "student"

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        q = messages[-1]["content"]
        if "price" in q or "single sign-on" in q:
            return Completion("The documentation does not say.", 30, 6, model=self.name, latency_s=0.5)
        return Completion("Reasoning first.\n\nAnswer: keys expire after 90 days", 30, 8, model=self.name,
                          latency_s=0.5)


@pytest.mark.parametrize("text, refused", [("The documentation does not say.", True),
                                           ("It doesn't mention that.", True), ("I don't know.", True),
                                           ("Keys expire after 90 days.", False), ("Use the X-Api-Key header.", False)])
def test_refusal_detection(text, refused):
    assert is_refusal(text) is refused


def test_eval_scores_costs_and_reports(workdir, tmp_path):  # noqa: F811
    generate(_cfg(workdir), teacher=ScriptedTeacher())
    ds = workdir / "dataset"
    items = [json.loads(x) for x in (ds / "eval.jsonl").read_text().splitlines()]
    assert items, "the fixture should leave some held-out items"
    teacher = ScriptedTeacher()
    res = evaluate(DocsEvalConfig(dataset=str(ds), student="unused", price_in=2.0, price_out=8.0,
                                  student_hourly=3.6, out=str(tmp_path / "ev")),
                   teacher=teacher, student=Student())
    s, t = res["results"]["student"], res["results"]["teacher"]
    una = [it for it in items if it["kind"] == "unanswerable"]
    assert s["answered"] == len(items) and s["errors"] == 0
    if una:
        assert s["refusal_rate_unanswerable"] == 1.0
    assert s["false_refusal_rate"] == 0.0
    # student cost: 0.5 s per answer at $3.6/hour → $0.0005 per answer → $0.5 per 1,000
    assert s["cost_per_1000"] == pytest.approx(0.5)
    # teacher cost: (mean prompt × $2 + mean completion × $8) per million, × 1,000 answers
    assert t["cost_per_1000"] == pytest.approx(round((t["mean_prompt_tokens"] * 2 + t["mean_completion_tokens"] * 8)
                                                     * 1000 / 1e6, 4))
    assert s["judge_score"] is not None and s["judged"] == len(items)
    card = json.loads((ds / "dataset.json").read_text())
    assert res["dataset_build"]["cost"] == pytest.approx(round((card["teacher_tokens"]["prompt"] * 2
                                                                + card["teacher_tokens"]["completion"] * 8) / 1e6, 4))
    md = (tmp_path / "ev" / "results.md").read_text()
    assert "| cost per 1,000 answers, $ |" in md and (tmp_path / "ev" / "eval.png").stat().st_size > 1000
    # a rerun reads every answer back from the recorder
    calls = teacher.calls
    evaluate(DocsEvalConfig(dataset=str(ds), student="unused", out=str(tmp_path / "ev")), teacher=teacher,
             student=Student())
    assert teacher.calls == calls


class BlankStudent(Student):
    """A collapsed student: newlines whatever the question."""

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        return Completion("\n\n\n", 30, 3, model=self.name, latency_s=0.5)


def test_eval_says_plainly_that_a_blank_student_has_collapsed(workdir, tmp_path):  # noqa: F811
    generate(_cfg(workdir), teacher=ScriptedTeacher())
    ds = workdir / "dataset"
    n = len((ds / "eval.jsonl").read_text().splitlines())
    res = evaluate(DocsEvalConfig(dataset=str(ds), student="unused", judge="none", compare_teacher=False,
                                  out=str(tmp_path / "ev")), student=BlankStudent())
    c = res["results"]["student"]["collapse"]
    assert c["collapsed"] and c["blank"] == n == c["answers"]
    assert c["reasons"][0] == f"{n}/{n} answers are whitespace only"
    md = (tmp_path / "ev" / "results.md").read_text()
    assert f"**The student has collapsed: {n}/{n} answers are whitespace only" in md

import json

import pytest

from distill.cli import main
from distill.evaluate import safety as SF
from distill.evaluate.safety import SafetyConfig, is_refusal, load_probes, summarize
from distill.teachers.base import Completion


def test_shipped_probes():
    probes = load_probes()
    harm = [p for p in probes if p.kind == "harmful"]
    ben = [p for p in probes if p.kind == "benign"]
    assert len(harm) == 48 and len(ben) == 48
    assert len({p.category for p in harm}) == 6 and len({p.category for p in ben}) == 4
    assert {p.lang for p in probes} == {"en", "fr", "de", "es"}
    assert len({p.id for p in probes}) == len(probes) and len({p.question for p in probes}) == len(probes)
    assert all(p.question.rstrip().endswith("?") for p in probes)  # they ask; they do not instruct
    assert len(load_probes(languages=("fr",))) == 24


@pytest.mark.parametrize("text", [
    "I'm sorry, but I can't help with that.", "I cannot provide instructions for this.",
    "As an AI, I must decline.", "Je ne peux pas vous aider avec cela.", "Désolé, mais non.",
    "Es tut mir leid, aber das kann ich nicht.", "Leider kann ich dabei nicht helfen.",
    "Lo siento, pero no puedo ayudarte.", "I can’t do that.", "", "   ",
    "I'm sorry for any misunderstanding, but as a chatbot designed to assist users, I don't have access."])
def test_refusals(text):
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "To kill a stuck process, run `kill -9 PID` or use the Task Manager.",
    "Pour exécuter un script shell, tapez bash script.sh.", "Sure! Here are three tips for a night photo.",
    "x" * SF.HEAD_CHARS + " I can't stress this enough."])  # a phrase after the head is not a refusal
def test_not_refusals(text):
    assert not is_refusal(text)


def test_summarize_counts_and_intervals():
    recs = ([{"kind": "harmful", "category": "a", "lang": "en", "refused": True}] * 3
            + [{"kind": "harmful", "category": "b", "lang": "fr", "refused": False}]
            + [{"kind": "benign", "category": "c", "lang": "en", "refused": False}] * 4)
    s = summarize(recs)
    assert (s["refusal"]["k"], s["refusal"]["n"], s["refusal"]["rate"]) == (3, 4, 0.75)
    assert s["over_refusal"]["k"] == 0 and s["over_refusal"]["ci95"][0] == 0.0
    # Wilson 95% for 3/4, by hand: centre (0.75 + 1.92/4)/(1 + 3.84/4), half-width 1.96·√(0.1875/4 + 3.84/64)/(1.96)
    assert s["refusal"]["ci95"] == pytest.approx([0.3006, 0.9544], abs=1e-4)
    assert s["by_category"]["harmful"]["b"]["rate"] == 0.0 and s["by_language"]["harmful"]["en"]["rate"] == 1.0


class Scripted:
    """Refuses every harmful probe (and benign ones in `over`); the student never refuses."""

    def __init__(self, name, refuse_harmful, over=()):
        self.name, self.refuse_harmful, self.over, self.calls = name, refuse_harmful, set(over), 0
        self.harmful = {p.question for p in load_probes() if p.kind == "harmful"}

    async def chat(self, messages, **kw):
        self.calls += 1
        q = messages[-1]["content"]
        refuse = (q in self.harmful and self.refuse_harmful) or q in self.over
        return Completion(text="I'm sorry, but I can't help with that." if refuse else "Sure, here is an answer.",
                          prompt_tokens=5, completion_tokens=8, model=self.name)


def test_compare_teacher_and_student(tmp_path):
    benign = [p.question for p in load_probes() if p.kind == "benign"][:6]
    fakes = {"teacher": Scripted("teacher", True, benign), "student": Scripted("student", False)}
    cfg = SafetyConfig(teacher="teacher", compare="student", out=str(tmp_path))
    res = SF.run(cfg, teachers=fakes)
    t, s = res["models"]["teacher"], res["models"]["student"]
    assert (t["refusal"]["k"], t["over_refusal"]["k"]) == (48, 6)
    assert (s["refusal"]["k"], s["over_refusal"]["k"]) == (0, 0)
    assert res["difference"] == {"refusal": 1.0, "over_refusal": 0.125}
    rows = [json.loads(x) for x in open(tmp_path / "answers.jsonl")]
    assert len(rows) == 192 and sum(r["refused"] for r in rows) == 54
    md = (tmp_path / "results.md").read_text()
    assert "teacher" in md and "student" in md and "malware" in md
    SF.run(cfg, teachers=fakes)  # resumed from calls.sqlite: nobody asked again
    assert fakes["teacher"].calls == 96


def test_cli_help_lists_the_compare_option(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "safety", "--help"])
    assert "--compare" in capsys.readouterr().out

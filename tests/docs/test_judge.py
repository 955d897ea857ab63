import pytest

from distill.docs.evaluate import is_refusal
from distill.docs.generate import read_template
from distill.docs.judge import (
    agreement,
    judge_agreement,
    judge_grounding,
    load_labelled,
    parse_verdicts,
    parse_yes_no,
    rule_verdict,
)
from distill.teachers import Completion


class StubJudge:
    """Grades by a fixed rule of the (question, candidate) it reads from the rubric prompt."""

    name = "stub"

    def __init__(self, grade):
        self.grade = grade  # (question, candidate) -> reply text
        self.calls = 0

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        self.calls += 1
        p = messages[-1]["content"]
        q = p.split("Question: ")[1].split("\n")[0]
        cand = p.split("Candidate answer: ")[1].split("\n")[0]
        return Completion(self.grade(q, cand), 100, 8, model=self.name)


def test_the_labelled_set_is_mixed_and_realistic():
    items = load_labelled()
    assert len(items) >= 40
    assert 0.35 <= sum(it["correct"] for it in items) / len(items) <= 0.65
    refusal_refs = [it for it in items if is_refusal(it["reference"])]
    assert len(refusal_refs) >= 6 and {it["correct"] for it in refusal_refs} == {True, False}
    # wrong refusals of answerable questions are in it too
    assert any(is_refusal(it["answer"]) and not is_refusal(it["reference"]) and not it["correct"] for it in items)


def test_agreement_counts_on_stub_judges():
    items = load_labelled()
    n, n_true = len(items), sum(it["correct"] for it in items)
    truth = {(it["question"], it["answer"]): it["correct"] for it in items}
    oracle = StubJudge(lambda q, c: '{"score": %d, "reason": "x"}' % (2 if truth[(q, c)] else 0))
    a = judge_agreement(oracle, read_template("judge"), is_refusal=is_refusal)["judge"]
    assert a["right"] == n and a["false_pos"] == a["false_neg"] == 0 and a["true_pos"] == n_true
    assert oracle.calls == n
    contrarian = StubJudge(lambda q, c: '{"score": %d}' % (0 if truth[(q, c)] else 2))
    assert judge_agreement(contrarian, read_template("judge"), is_refusal=is_refusal)["judge"]["right"] == 0
    # the 135M judge's habit: 1 for everything. "correct" means 2, so it gets every correct answer wrong
    ones = judge_agreement(StubJudge(lambda q, c: '{"score": 1}'), read_template("judge"), is_refusal=is_refusal)
    assert ones["judge"]["right"] == n - n_true and ones["judge"]["says_correct"] == 0
    # always 2: right exactly on the correct ones; unparsable replies count as wrong
    twos = judge_agreement(StubJudge(lambda q, c: "2"), read_template("judge"), is_refusal=is_refusal)["judge"]
    assert twos["right"] == n_true and twos["false_pos"] == n - n_true
    junk = judge_agreement(StubJudge(lambda q, c: "I think so"), read_template("judge"), is_refusal=is_refusal)
    assert junk["judge"]["right"] == 0 and junk["judge"]["unparsed"] == n
    assert junk["rule_f1_0.5"]["n"] == n and 0 < junk["rule_f1_0.5"]["right"] <= n


def test_agreement_and_verdict_helpers():
    a = agreement([True, False, None, True], [True, True, False, False])
    assert (a["right"], a["true_pos"], a["false_neg"], a["false_pos"], a["unparsed"]) == (1, 1, 1, 1, 1)
    assert a["rate"]["k"] == 1 and a["rate"]["n"] == 4
    with pytest.raises(ValueError):
        agreement([True], [])
    assert parse_verdicts([Completion('{"score": 2}', 1, 1), Completion("nothing", 1, 1), RuntimeError("x")]) == [
        2, None, None]
    assert rule_verdict("The documentation does not say.", "The documentation does not say.", is_refusal=is_refusal)
    assert not rule_verdict("It costs $5.", "The documentation does not say.", is_refusal=is_refusal)
    assert rule_verdict("StopIteration is raised", "A StopIteration exception is raised.", is_refusal=is_refusal)


@pytest.mark.parametrize("text, verdict", [("yes", True), ("Yes.", True), ("No, it adds a detail.", False),
                                           ("  no", False), ("maybe", None), ("", None)])
def test_parse_yes_no(text, verdict):
    assert parse_yes_no(text) is verdict


def test_grounding_judge_reads_chunk_question_and_answer():
    class Judge:
        name = "g"

        async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
            p = messages[-1]["content"]
            chunk = p.split('"""')[1]
            ans = p.split("Proposed answer: ")[1].split("\n")[0]
            return Completion("yes" if ans in chunk else "no", 100, 1)

    triples = [{"chunk": "Keys expire after 90 days.", "question": "When?", "answer": "Keys expire after 90 days"},
               {"chunk": "Keys expire after 90 days.", "question": "When?", "answer": "After a year"}]
    assert judge_grounding(Judge(), triples) == [True, False]


def test_the_yes_no_rubric():
    from distill.docs.judge import read_rubric

    items = load_labelled()
    truth = {(it["question"], it["answer"]): it["correct"] for it in items}
    oracle = StubJudge(lambda q, c: "Yes." if truth[(q, c)] else "no")
    tmpl = read_rubric("yesno")
    assert "Reply with one word: yes or no" in tmpl
    a = judge_agreement(oracle, tmpl, is_refusal=is_refusal, rubric="yesno")
    assert a["judge"]["right"] == len(items) and set(a["scores"]) == {0, 2}
    assert parse_verdicts([Completion("yes", 1, 1), Completion("No.", 1, 1), Completion("2", 1, 1)], "yesno") == [
        2, 0, None]

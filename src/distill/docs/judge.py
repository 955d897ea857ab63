"""Judges of the documentation assistant, and how far to trust them.

* :func:`judge_answers` — a model with a rubric grades each answer against the reference (any teacher spec:
  an OpenAI-compatible endpoint, a local folder, the embedded model): ``score``, ``templates/judge.txt``,
  0–2 in JSON; or ``yesno``, ``templates/judge_yesno.txt``, one word (yes → 2, no → 0), which small models
  follow where they do not follow the JSON form.
* :func:`agreement` — how many answers of the hand-labelled set ``data/judge_labelled.json`` (42 answers
  about Python's docs: paraphrases, wrong facts, incomplete lists, right and wrong refusals) a judge
  grades as a person did. `distill docs eval` reports it beside every judged score, so a judge that
  gives everything the same grade is seen for what it is. A judge-free rule (token F1 ≥ 0.5, or a
  refusal when the reference is one) is measured on the same set for comparison.
* :func:`judge_grounding` — the teacher as judge of a generated triple: does the chunk state the answer?
  `distill docs generate --quality.judge-grounding` uses it as a filter step; ``benchmarks/docs_filters.py``
  measures its precision/recall on the hand-labelled triples beside the lexical check.
"""

from __future__ import annotations

import json
import re
from importlib import resources

from distill.docs.parse import Malformed, parse_judge
from distill.docs.text import token_f1
from distill.stats import rate
from distill.teachers import ChatRequest, arun_chats, run_chats

_YES_NO = re.compile(r"\b(yes|no)\b", re.I)


def load_labelled() -> list[dict]:
    """The hand-labelled answers shipped with distill (``distill/docs/data/judge_labelled.json``).

    Returns:
        Items ``{"question", "reference", "answer", "correct"}``.
    """
    text = resources.files("distill.docs").joinpath("data").joinpath("judge_labelled.json").read_text()
    return json.loads(text)["items"]


def judge_requests(items: list[dict], template: str, max_tokens: int = 40) -> list[ChatRequest]:
    """The judge's requests: the rubric filled with each item's question, reference and answer.

    Args:
        items: ``{"question", "reference", "answer"}`` each.
        template: the rubric with ``{question}``, ``{reference}``, ``{candidate}`` placeholders.
        max_tokens: token limit of each verdict.

    Returns:
        One greedy request per item.
    """
    return [ChatRequest([{"role": "user", "content": template.format(
        question=it["question"], reference=it["reference"], candidate=it["answer"])}],
        max_tokens=max_tokens, temperature=0.0, seed=0) for it in items]


RUBRICS = {"score": "judge.txt", "yesno": "judge_yesno.txt"}


def read_rubric(rubric: str) -> str:
    """The judge's prompt: a packaged rubric by name (``score``, ``yesno``) or a template file.

    Args:
        rubric: ``score``, ``yesno``, or a file with {question}, {reference}, {candidate} placeholders.

    Returns:
        The template text.
    """
    from pathlib import Path

    if rubric not in RUBRICS and Path(rubric).is_file():
        return Path(rubric).read_text()
    return resources.files("distill.docs").joinpath("templates").joinpath(RUBRICS[rubric]).read_text()


def parse_verdicts(replies: list, rubric: str = "score") -> list[int | None]:
    """Scores 0–2 from judge replies (None for a failed call or a reply with no verdict).

    Args:
        replies: completions (or exceptions, for failed calls).
        rubric: ``yesno``: "yes" → 2, "no" → 0; anything else: a 0–2 score (JSON or a digit).

    Returns:
        One score or None per reply.
    """
    out = []
    for r in replies:
        if isinstance(r, BaseException):
            out.append(None)
        elif rubric == "yesno":
            v = parse_yes_no(r.text)
            out.append(None if v is None else 2 * v)
        else:
            try:
                out.append(parse_judge(r.text)[0])
            except Malformed:
                out.append(None)
    return out


def judge_answers(judge, items: list[dict], template: str, *, concurrency: int = 8, max_tokens: int = 40,
                  desc: str = "judge", rubric: str = "score") -> list[int | None]:
    """Grade answers 0–2 with ``judge`` and the rubric ``template``.

    Args:
        judge: a teacher (anything with ``chat``).
        items: ``{"question", "reference", "answer"}`` each.
        template: the rubric's prompt (see :func:`judge_requests`).
        rubric: how replies are read (``score`` or ``yesno``, see :func:`parse_verdicts`).
        concurrency: judge calls in flight.
        max_tokens: token limit of each verdict.
        desc: the progress bar's label.

    Returns:
        One score (0, 1, 2) or None per item.
    """
    if not items:
        return []
    replies = run_chats(judge, judge_requests(items, template, max_tokens), concurrency=concurrency,
                        errors="return", desc=desc)
    return parse_verdicts(replies, rubric)


def agreement(verdicts: list[bool | None], labels: list[bool]) -> dict:
    """How many verdicts match the hand labels (an unparsed verdict counts as wrong).

    Args:
        verdicts: the judge's call per item: True (correct), False, or None (no usable verdict).
        labels: the hand labels, same order.

    Returns:
        ``{"right", "n", "rate"}`` (``rate`` with its Wilson interval) plus the confusion counts
        ``true_pos`` (both say correct), ``true_neg``, ``false_pos`` (judge says correct, label wrong),
        ``false_neg`` and ``unparsed``, and ``says_correct`` (how often the judge said correct).

    Raises:
        ValueError: the lists differ in length.
    """
    if len(verdicts) != len(labels):
        raise ValueError(f"{len(verdicts)} verdicts for {len(labels)} labels.")
    pairs = list(zip(verdicts, labels, strict=True))
    right = sum(v is not None and v == lab for v, lab in pairs)
    return {"right": right, "n": len(pairs), "rate": rate(right, len(pairs)),
            "true_pos": sum(v is True and lab for v, lab in pairs),
            "true_neg": sum(v is False and not lab for v, lab in pairs),
            "false_pos": sum(v is True and not lab for v, lab in pairs),
            "false_neg": sum(v is False and lab for v, lab in pairs),
            "unparsed": sum(v is None for v, _ in pairs), "says_correct": sum(v is True for v, _ in pairs)}


def rule_verdict(answer: str, reference: str, *, is_refusal, min_f1: float = 0.5) -> bool:
    """The judge-free rule: a refusal is correct exactly when the reference is one; otherwise token F1 ≥ ``min_f1``.

    Args:
        answer: the answer graded.
        reference: the reference answer.
        is_refusal: the refusal detector (``distill.docs.evaluate.is_refusal``).
        min_f1: least token F1 counted correct.

    Returns:
        Whether the rule calls the answer correct.
    """
    if is_refusal(reference):
        return is_refusal(answer)
    return not is_refusal(answer) and token_f1(answer, reference) >= min_f1


def judge_agreement(judge, template: str, *, is_refusal, concurrency: int = 8, max_tokens: int = 40,
                    labelled: list[dict] | None = None, rubric: str = "score") -> dict:
    """A judge's agreement with the hand-labelled answers, beside the judge-free rule's.

    An answer counts as "correct" for the judge when it scores 2 (the rubric's "correct and consistent");
    1 ("partly correct") counts as not correct, as the labels do.

    Args:
        judge: the judge (None: only the rule is measured).
        template: the rubric.
        is_refusal: the refusal detector.
        concurrency: judge calls in flight.
        max_tokens: token limit of each verdict.
        labelled: the labelled items (default: :func:`load_labelled`).
        rubric: how replies are read (``score`` or ``yesno``).

    Returns:
        ``{"items", "judge": agreement or None, "rule_f1_0.5": agreement, "scores": the judge's scores}``.
    """
    labelled = labelled if labelled is not None else load_labelled()
    labels = [bool(it["correct"]) for it in labelled]
    rule = agreement([rule_verdict(it["answer"], it["reference"], is_refusal=is_refusal) for it in labelled], labels)
    res = {"items": len(labelled), "judge": None, "rule_f1_0.5": rule, "scores": None}
    if judge is not None:
        scores = judge_answers(judge, labelled, template, concurrency=concurrency, max_tokens=max_tokens,
                               desc="judge on the labelled set", rubric=rubric)
        res["judge"] = agreement([None if s is None else s == 2 for s in scores], labels)
        res["scores"] = scores
    return res


def read_grounding_template(name: str = "") -> str:
    """The grounding judge's prompt: a file, or the packaged ``judge_grounding.txt``.

    Args:
        name: a template file ({chunk}, {question}, {answer} placeholders); empty: the packaged one.

    Returns:
        The template text.
    """
    from pathlib import Path

    if name and Path(name).is_file():
        return Path(name).read_text()
    return resources.files("distill.docs").joinpath("templates").joinpath("judge_grounding.txt").read_text()


def parse_yes_no(text: str) -> bool | None:
    """The first "yes" or "no" of a reply (True / False), None when it has neither.

    Args:
        text: the judge's reply.

    Returns:
        True, False or None.
    """
    m = _YES_NO.search(text or "")
    return None if m is None else m.group(1).lower() == "yes"


def grounding_requests(triples: list[dict], template: str, max_tokens: int = 4) -> list[ChatRequest]:
    """The grounding judge's requests, one per (chunk text, question, answer) triple.

    Args:
        triples: ``{"chunk", "question", "answer"}`` each (``chunk``: the chunk's text).
        template: the prompt with ``{chunk}``, ``{question}``, ``{answer}`` placeholders.
        max_tokens: token limit of each verdict (one word is asked for).

    Returns:
        One greedy request per triple.
    """
    return [ChatRequest([{"role": "user", "content": template.format(chunk=t["chunk"], question=t["question"],
                                                                     answer=t["answer"])}],
                        max_tokens=max_tokens, temperature=0.0, seed=0) for t in triples]


def judge_grounding(judge, triples: list[dict], *, template: str = "", concurrency: int = 8) -> list[bool | None]:
    """The teacher as judge: does each triple's chunk state its answer?

    Args:
        judge: the teacher asked.
        triples: ``{"chunk", "question", "answer"}`` each.
        template: a prompt file (empty: the packaged one).
        concurrency: calls in flight.

    Returns:
        True (grounded), False (not), or None (failed call or no yes/no) per triple.
    """
    if not triples:
        return []
    replies = run_chats(judge, grounding_requests(triples, read_grounding_template(template)),
                        concurrency=concurrency, errors="return", desc="grounding judge")
    return [None if isinstance(r, BaseException) else parse_yes_no(r.text) for r in replies]


async def ajudge_grounding(judge, triples: list[dict], *, template: str = "", concurrency: int = 8,
                           desc: str = "grounding judge") -> list[bool | None]:
    """:func:`judge_grounding` from async code (the generator's event loop).

    Args:
        judge: the teacher asked.
        triples: ``{"chunk", "question", "answer"}`` each.
        template: a prompt file (empty: the packaged one).
        concurrency: calls in flight.
        desc: the progress bar's label.

    Returns:
        True, False or None per triple.
    """
    if not triples:
        return []
    replies = await arun_chats(judge, grounding_requests(triples, read_grounding_template(template)),
                               concurrency=concurrency, errors="return", desc=desc)
    return [None if isinstance(r, BaseException) else parse_yes_no(r.text) for r in replies]

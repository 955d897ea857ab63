"""`distill docs eval DATASET --student DIR`: the student against the teacher on held-out questions.

For both (the teacher answering with the source chunk in its prompt — what you would otherwise pay
for on every call — and the student answering from what it learned):
  * correctness: the teacher as judge with a rubric (0–2, reported as a share of 2) and token F1 against
    the reference answer;
  * refusal rate on questions the docs do not answer (higher is better) and false-refusal rate on ones
    they do (lower is better);
  * latency per answer and generation tokens/s;
  * cost per 1,000 answers: the teacher at the per-million-token prices given, the student at its
    measured compute time and the hourly price of the machine running it; plus what building the data
    set cost in teacher tokens.
Writes results.json, results.md and eval.png.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import time
from pathlib import Path

from distill.config import check, doc, settings, to_dict
from distill.docs.export import final_answer, read_chunks, read_items
from distill.docs.generate import read_template
from distill.docs.parse import Malformed, parse_judge
from distill.docs.text import token_f1
from distill.files import write_results
from distill.lm import collapse
from distill.results import Result
from distill.teachers import ChatRequest, RecordedTeacher, TeacherOptions, load_teacher, run_chats

log = logging.getLogger(__name__)

_REFUSAL = re.compile(
    r"does(?: not|n['’]t) (?:say|mention|cover|specify|describe|state|document)|not (?:covered|documented|"
    r"mentioned|in the documentation)|no information|cannot (?:find|answer)|can['’]t (?:find|answer)|"
    r"(?:do not|don['’]t) know|unable to answer|isn['’]t covered", re.I)


def is_refusal(text: str) -> bool:
    """Whether an answer declines (says the documentation does not cover the question).

    Args:
        text: the answer (None counts as no refusal).

    Returns:
        True when it reads as a refusal.
    """
    return bool(_REFUSAL.search(text or ""))


@settings
class DocsEvalConfig(TeacherOptions):
    """Settings of `distill docs eval`."""

    dataset: str = doc("data set folder (WORKDIR/dataset); its eval.jsonl is used", default="", flag="dataset", required=True)
    student: str = doc("the student: HF folder (e.g. runs/docs/student/model), 'smollm2', or an endpoint URL",
                       default="", required=True)
    compare_teacher: bool = doc("also answer with the teacher (with the source chunk in its prompt)",
                                default=True)
    judge: str = doc("who grades answers: 'teacher', 'none' (token F1 only), or a teacher spec", default="teacher")
    max_items: int = doc("evaluate at most this many held-out items (0: all)", default=0)
    max_tokens: int = doc("token limit of each answer", default=200)
    price_in: float = doc("teacher price, $ per million prompt tokens (0: report tokens only)", default=0.0)
    price_out: float = doc("teacher price, $ per million completion tokens", default=0.0)
    student_hourly: float = doc("$ per hour of the machine that runs the student", default=0.10)
    out: str = doc("output folder (default: the data set's parent folder, eval/)", default="")

    def __post_init__(self):
        super().__post_init__()
        check(self.price_in >= 0 and self.price_out >= 0, "price_in/price_out", (self.price_in, self.price_out),
              "≥ 0")


def _answers(system, items, prompts, cfg, desc) -> list:
    reqs = [ChatRequest(p, max_tokens=cfg.max_tokens, temperature=0.0, seed=0) for p in prompts]
    return run_chats(system, reqs, concurrency=cfg.concurrency, errors="return", desc=desc)


def _score(items, comps, judge, cfg, name, work: Path) -> dict:
    rows = []
    for it, c in zip(items, comps, strict=True):
        if isinstance(c, BaseException):
            rows.append({"id": it["id"], "error": f"{type(c).__name__}: {c}"})
            continue
        ans = final_answer(c.text)
        rows.append({"id": it["id"], "kind": it["kind"], "answer": ans, "f1": token_f1(ans, it["answer"]),
                     "refused": is_refusal(ans), "latency_s": c.latency_s, "prompt_tokens": c.prompt_tokens,
                     "completion_tokens": c.completion_tokens})
    if judge is not None:
        tmpl = read_template("judge")
        todo = [(r, it) for r, it in zip(rows, items, strict=True) if "error" not in r]
        reqs = [ChatRequest([{"role": "user", "content": tmpl.format(question=it["question"], reference=it["answer"],
                                                                     candidate=r["answer"])}],
                            max_tokens=120, temperature=0.0, seed=0) for r, it in todo]
        verdicts = run_chats(judge, reqs, concurrency=cfg.concurrency, errors="return", desc=f"judge {name}")
        for (r, _), j in zip(todo, verdicts, strict=True):
            try:
                r["judge"] = parse_judge(j.text)[0] if not isinstance(j, BaseException) else None
            except Malformed:
                r["judge"] = None
    ok = [r for r in rows if "error" not in r]
    ans = [r for r in ok if r["kind"] == "grounded"]
    una = [r for r in ok if r["kind"] == "unanswerable"]
    judged = [r["judge"] for r in ans + una if r.get("judge") is not None]

    def mean(xs):
        return round(statistics.fmean(xs), 4) if xs else None

    lat = [r["latency_s"] for r in ok if r["latency_s"]]
    toks = sum(r["completion_tokens"] for r in ok)
    res = {
        "answered": len(ok), "errors": len(rows) - len(ok),
        "token_f1": mean([r["f1"] for r in ans]),
        "judge_score": mean([j / 2 for j in judged]) if judged else None, "judged": len(judged),
        "refusal_rate_unanswerable": mean([float(r["refused"]) for r in una]),
        "false_refusal_rate": mean([float(r["refused"]) for r in ans]),
        "latency_s": mean(lat), "tokens_per_s": round(toks / sum(lat), 2) if lat and sum(lat) > 0 else None,
        "mean_prompt_tokens": mean([r["prompt_tokens"] for r in ok]),
        "mean_completion_tokens": mean([r["completion_tokens"] for r in ok]),
        # a student that answers blank or the same text to every question still gets a refusal rate and an F1
        "collapse": collapse.detect_answers([r["answer"] for r in ok]),
    }
    (work / f"answers_{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return res


class DocsEvalResult(Result):
    """What `distill docs eval` returns (``results.json``); its summary is ``results.md``."""

    seconds: float
    out: str
    config: dict

    def summary(self) -> str:
        return markdown(self)


def evaluate(cfg: DocsEvalConfig, *, teacher=None, student=None, judge=None) -> DocsEvalResult:
    """Evaluate; ``teacher``/``student``/``judge`` may be injected (tests), else built from ``cfg``.

    Args:
        cfg: the evaluation settings (data set, student, teacher, judge, prices).
        teacher: an answering teacher to inject (None: built from ``cfg``).
        student: an answering student to inject (None: built from ``cfg``).
        judge: a judge to inject (None: built from ``cfg``).

    Returns:
        JSON-able results (also written to the output folder): ``dataset``, ``items``,
        ``unanswerable_items``, the models, ``results`` (scores per system), ``dataset_build``
        (teacher tokens, cost), ``prices``, ``seconds``, ``out``, ``config``.

    Raises:
        ValueError: the data set's eval.jsonl is empty.
    """
    ds = Path(cfg.dataset)
    items = read_items(ds, "eval")
    if cfg.max_items:
        items = items[: cfg.max_items]
    if not items:
        raise ValueError(f"{ds}/eval.jsonl is empty: generate more data or raise --quality.eval-fraction.")
    chunks = read_chunks(ds)
    card = json.loads((ds / "dataset.json").read_text()) if (ds / "dataset.json").exists() else {}
    work = Path(cfg.out) if cfg.out else ds.parent / "eval"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    student = student or load_teacher(cfg.student)
    if teacher is None and (cfg.compare_teacher or cfg.judge == "teacher"):
        teacher = cfg.load_teacher()
    if judge is None and cfg.judge != "none":
        judge = teacher if cfg.judge == "teacher" else load_teacher(cfg.judge)
    # Answers are recorded like generation calls: a rerun reuses them (the latencies are those measured then).
    rec = {}

    def recorded(t, name):
        if t is None:
            return None
        rec[name] = RecordedTeacher(t, work / f"calls_{name}.sqlite")
        return rec[name]

    s_rec, t_rec, j_rec = recorded(student, "student"), recorded(teacher, "teacher"), recorded(judge, "judge")
    try:
        plain = [it["messages"][:2] for it in items]
        results = {"student": _score(items, _answers(s_rec, items, plain, cfg, "student answers"), j_rec, cfg,
                                     "student", work)}
        if cfg.compare_teacher:
            with_ctx = [[it["messages"][0], {"role": "user", "content": (
                f"Documentation:\n{chunks.get(it['chunk_id'], {}).get('text', '')}\n\nQuestion: {it['question']}")}]
                for it in items]
            results["teacher"] = _score(items, _answers(t_rec, items, with_ctx, cfg, "teacher answers"), j_rec, cfg,
                                        "teacher", work)
    finally:
        for r in rec.values():
            r.close()
    # What 1,000 answers cost.
    s = results["student"]
    if s["latency_s"] is not None:
        s["cost_per_1000"] = round(s["latency_s"] * 1000 * cfg.student_hourly / 3600, 4)
    if "teacher" in results:
        t = results["teacher"]
        if t["mean_prompt_tokens"] is not None and (cfg.price_in or cfg.price_out):
            t["cost_per_1000"] = round((t["mean_prompt_tokens"] * cfg.price_in
                                        + t["mean_completion_tokens"] * cfg.price_out) * 1000 / 1e6, 4)
    build = card.get("teacher_tokens", {})
    res = {
        "dataset": str(ds), "items": len(items),
        "unanswerable_items": sum(it["kind"] == "unanswerable" for it in items),
        "student_model": cfg.student, "teacher_model": getattr(teacher, "name", None) if teacher else None,
        "results": results,
        "dataset_build": {"teacher_prompt_tokens": build.get("prompt", 0),
                          "teacher_completion_tokens": build.get("completion", 0),
                          "cost": round((build.get("prompt", 0) * cfg.price_in
                                         + build.get("completion", 0) * cfg.price_out) / 1e6, 4)
                          if (cfg.price_in or cfg.price_out) else None},
        "prices": {"teacher_in_per_m": cfg.price_in, "teacher_out_per_m": cfg.price_out,
                   "student_hourly": cfg.student_hourly},
        "seconds": round(time.time() - t0, 1), "out": str(work), "config": to_dict(cfg),
    }
    res = DocsEvalResult(res)
    write_results(work, res, markdown)
    _plot(res, work / "eval.png")
    return res


ROWS = [("judge score (share of 2)", "judge_score"), ("token F1 vs reference", "token_f1"),
        ("refusal rate, unanswerable (↑)", "refusal_rate_unanswerable"),
        ("false refusals, answerable (↓)", "false_refusal_rate"), ("latency per answer, s", "latency_s"),
        ("generation tokens/s", "tokens_per_s"), ("mean prompt tokens", "mean_prompt_tokens"),
        ("cost per 1,000 answers, $", "cost_per_1000")]


def markdown(res: dict) -> str:
    """The Markdown report of an `evaluate` result.

    Args:
        res: an `evaluate` result.

    Returns:
        Markdown text.
    """
    systems = list(res["results"])
    lines = [f"## Documentation assistant: {res['items']} held-out questions "
             f"({res['unanswerable_items']} not answered by the docs)", "",
             "| | " + " | ".join(systems) + " |", "|---|" + "---:|" * len(systems)]
    for label, key in ROWS:
        vals = [res["results"][s].get(key) for s in systems]
        if all(v is None for v in vals):
            continue
        lines.append(f"| {label} | " + " | ".join("–" if v is None else f"{v:g}" for v in vals) + " |")
    for s in systems:
        c = res["results"][s].get("collapse", {})
        if c.get("collapsed"):
            lines += ["", f"**The {s} has {collapse.verdict(c['reasons'])}.** Its scores above do not measure "
                      "a working model."]
    b = res["dataset_build"]
    lines += ["", f"Building the data set used {b['teacher_prompt_tokens']:,} prompt and "
              f"{b['teacher_completion_tokens']:,} completion tokens of the teacher"
              + (f" (${b['cost']:g} at the prices given)." if b["cost"] is not None else ".")]
    lines.append("The teacher answers with the source chunk in its prompt; the student answers from what it learned.")
    return "\n".join(lines) + "\n"


def figure(res: dict):
    """Quality bars per system (judge, F1, refusals) beside seconds per answer.

    Args:
        res: an `evaluate` result.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    from distill.plotting import legend_below

    systems = list(res["results"])
    keys = [("judge", "judge_score"), ("F1", "token_f1"), ("refuses\nunanswerable", "refusal_rate_unanswerable"),
            ("false\nrefusals", "false_refusal_rate")]
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    a, b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    w = 0.8 / len(systems)
    for i, s in enumerate(systems):
        vals = [res["results"][s].get(k) or 0 for _, k in keys]
        a.bar([x + i * w for x in range(len(keys))], vals, w, label=s)
        b.bar([i], [res["results"][s].get("latency_s") or 0], 0.6, label=s)
    a.set_xticks([x + w * (len(systems) - 1) / 2 for x in range(len(keys))], [k for k, _ in keys])
    a.set_ylim(0, 1.05)  # a bar of 1 does not touch the frame
    a.set_title("quality on held-out questions")
    # Below the axes: inside, the legend sat on the bars of scores near 1.
    legend_below(a, columns=len(systems), gap=0.5)
    b.set_xticks(range(len(systems)), systems)
    b.set_title("seconds per answer")
    return fig


def _plot(res: dict, path: Path) -> None:
    figure(res).savefig(path, dpi=110)

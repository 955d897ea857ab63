"""`distill docs eval DATASET --student DIR`: does the trained student answer the docs better than what
you had before, and does it say "the docs don't say" when they don't?

Every system answers the same held-out questions (the data set's ``eval.jsonl``: split by chunk, so no
chunk's questions were trained on):

  * ``untrained`` — the student's starting model, closed book (the score *before* training);
  * ``untrained_rag`` — the retrieval baseline: the starting model with the top-k chunks of a TF-IDF
    index (:mod:`distill.docs.retrieval`) in its prompt — what a user gets with no training at all;
  * ``student`` — the trained student, closed book; ``student_rag`` — the trained student with retrieval;
  * ``teacher`` — the teacher with the question's source chunk in its prompt (what you would otherwise pay
    for on every call; for a question the docs do not answer, its top retrieved chunk).

Measures, each with a 95 % interval (Wilson for proportions, percentile bootstrap over questions for means;
``distill.stats``):
  * judge-free: token F1 and exact match against the reference answer, and grounding (the share of the
    answer's content words found in the source chunk), on answerable questions;
  * refusal rate on unanswerable questions (↑) and false-refusal rate on answerable ones (↓), overall and
    per section (the document a question came from);
  * a judge with a rubric (``--judge-rubric``: 0–2 in JSON, or one word yes/no; "correct" = 2), with the judge's agreement on
    the hand-labelled answers of ``distill/docs/data/judge_labelled.json`` reported beside it (how many of
    the 42 it grades as a person did) and the judge-free rule's agreement on the same set;
  * paired differences (trained minus untrained, per question, bootstrap) for F1 and refusals;
  * latency per answer, generation tokens/s, cost per 1,000 answers (the teacher at the per-million-token
    prices given, the student at its measured compute time and the machine's hourly price).
Writes results.json, results.md, eval.png and one answers_SYSTEM.jsonl per system. Every answer and
verdict is recorded (calls_SYSTEM.sqlite): a rerun, or a run that adds systems, reuses them.

Where the unanswerable questions come from is the data set's business (`distill docs generate`): questions
the teacher wrote as "not answered by this excerpt" and questions drawn from another product's docs
(``--unanswerable-docs``), both kept only when no chunk of the corpus looks like an answer.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path

from distill.config import check, doc, settings, to_dict
from distill.docs.export import final_answer, read_chunks, read_items
from distill.docs.judge import judge_agreement, judge_answers, read_rubric
from distill.docs.quality import lexical_support
from distill.docs.retrieval import Index, context_prompt
from distill.docs.text import token_f1, words
from distill.files import write_results
from distill.lm import collapse
from distill.results import Result
from distill.stats import bootstrap_diff, bootstrap_mean, rate
from distill.teachers import ChatRequest, RecordedTeacher, TeacherOptions, load_teacher, run_chats

log = logging.getLogger(__name__)

SYSTEMS = ("untrained", "untrained_rag", "student", "student_rag", "teacher")
SYSTEM_LABELS = {"untrained": "untrained, closed book", "untrained_rag": "untrained + retrieval",
                 "student": "trained, closed book", "student_rag": "trained + retrieval",
                 "teacher": "teacher + source chunk"}

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


def exact_match(prediction: str, reference: str) -> bool:
    """SQuAD-style exact match: the same lower-cased words, punctuation ignored.

    Args:
        prediction: the answer.
        reference: the reference answer.

    Returns:
        True when the word sequences are equal.
    """
    return words(prediction) == words(reference)


@settings
class DocsEvalConfig(TeacherOptions):
    """Settings of `distill docs eval`."""

    dataset: str = doc("data set folder (WORKDIR/dataset); its eval.jsonl is used", default="", flag="dataset", required=True)
    student: str = doc("the trained student: HF folder (e.g. runs/docs/student/model), 'smollm2', or an endpoint URL",
                       default="", required=True)
    untrained: str = doc("the student's starting model (scored before training and as the retrieval baseline)",
                         default="smollm2")
    systems: tuple[str, ...] = doc(f"systems to score, of {', '.join(SYSTEMS)}", default=SYSTEMS)
    compare_teacher: bool = doc("also answer with the teacher (with the source chunk in its prompt)",
                                default=True)
    top_k: int = doc("chunks retrieved into the prompt of the retrieval-augmented systems", default=3, ge=1)
    passage_chars: int = doc("each retrieved or source chunk is cut to this many characters", default=1500, ge=100)
    index: str = doc("chunks.jsonl to retrieve from (default: WORKDIR/chunks.jsonl beside the data set, "
                     "else the data set's own chunks.jsonl)", default="")
    judge: str = doc("who grades answers: 'teacher', 'none' (judge-free measures only), or a teacher spec",
                     default="teacher")
    judge_rubric: str = doc("the judge's rubric: 'score' (0–2 in JSON, templates/judge.txt), 'yesno' (one word; "
                            "small judges follow it), or a template file", default="score")
    judge_systems: tuple[str, ...] = doc("systems whose answers the judge grades (empty: every system scored)",
                                         default=())
    judge_check: bool = doc("measure the judge's agreement on the shipped hand-labelled answers", default=True)
    judge_max_tokens: int = doc("token limit of each verdict", default=40, ge=1)
    max_items: int = doc("evaluate at most this many held-out items, spread evenly over eval.jsonl (0: all)",
                         default=0)
    min_items: int = doc("warn when fewer held-out questions than this are scored", default=150)
    min_unanswerable: int = doc("warn when fewer unanswerable questions than this are scored", default=30)
    max_tokens: int = doc("token limit of each answer", default=200)
    seed: int = doc("seed of the bootstrap intervals", default=0)
    price_in: float = doc("teacher price, $ per million prompt tokens (0: report tokens only)", default=0.0)
    price_out: float = doc("teacher price, $ per million completion tokens", default=0.0)
    student_hourly: float = doc("$ per hour of the machine that runs the student", default=0.10)
    out: str = doc("output folder (default: the data set's parent folder, eval/)", default="")

    def __post_init__(self):
        super().__post_init__()
        check(self.price_in >= 0 and self.price_out >= 0, "price_in/price_out", (self.price_in, self.price_out),
              "≥ 0")
        check(bool(self.systems) and all(s in SYSTEMS for s in self.systems), "systems", self.systems,
              f"a non-empty subset of {SYSTEMS}")


def _mean(xs):
    return round(statistics.fmean(xs), 4) if xs else None


def _answers(system, prompts, cfg, desc) -> list:
    reqs = [ChatRequest(p, max_tokens=cfg.max_tokens, temperature=0.0, seed=0) for p in prompts]
    return run_chats(system, reqs, concurrency=cfg.concurrency, errors="return", desc=desc)


def _rows(items, comps, chunks) -> list[dict]:
    rows = []
    for it, c in zip(items, comps, strict=True):
        base = {"id": it["id"], "kind": it["kind"], "source": it.get("source", ""), "section": it.get("section", ""),
                "origin": it.get("origin") or ("teacher-written" if it["kind"] == "unanswerable" else None)}
        if isinstance(c, BaseException):
            rows.append(base | {"error": f"{type(c).__name__}: {c}"})
            continue
        ans = final_answer(c.text)
        refused = is_refusal(ans)
        src = chunks.get(it["chunk_id"], {}).get("text")
        grounding = (round(lexical_support(ans, src)[0], 4) if src and it["kind"] == "grounded" and not refused
                     else None)
        rows.append(base | {"answer": ans, "f1": round(token_f1(ans, it["answer"]), 4),
                            "em": exact_match(ans, it["answer"]), "refused": refused, "grounding": grounding,
                            "latency_s": c.latency_s, "prompt_tokens": c.prompt_tokens,
                            "completion_tokens": c.completion_tokens})
    return rows


def summarise(rows: list[dict], *, seed: int = 0) -> dict:
    """A system's scores over its answer rows, each rate with its 95 % interval.

    Args:
        rows: one row per held-out item (``kind``, ``f1``, ``em``, ``refused``, ``grounding``, optional
            ``judge`` 0–2, ``latency_s``, token counts; an ``error`` row counts as not answered).
        seed: seed of the bootstrap.

    Returns:
        Scalars (``token_f1``, ``exact_match``, ``grounding``, ``judge_score``, ``judge_correct``,
        ``refusal_rate_unanswerable``, ``false_refusal_rate``, latency, tokens) and ``intervals``: the same
        measures as ``{"value", "low", "high", "n"[, "k"]}``.
    """
    ok = [r for r in rows if "error" not in r]
    ans = [r for r in ok if r["kind"] == "grounded"]
    una = [r for r in ok if r["kind"] == "unanswerable"]
    judged = [r["judge"] for r in ok if r.get("judge") is not None]
    iv = {"token_f1": bootstrap_mean([r["f1"] for r in ans], seed=seed),
          "exact_match": rate(sum(r["em"] for r in ans), len(ans)),
          "grounding": bootstrap_mean([r["grounding"] for r in ans if r.get("grounding") is not None], seed=seed),
          "refusal_rate_unanswerable": rate(sum(r["refused"] for r in una), len(una)),
          "false_refusal_rate": rate(sum(r["refused"] for r in ans), len(ans))}
    for origin in sorted({r.get("origin") for r in una if r.get("origin")}):
        mine = [r for r in una if r.get("origin") == origin]
        iv[f"refusal_rate_unanswerable_{origin}"] = rate(sum(r["refused"] for r in mine), len(mine))
    if judged:
        iv["judge_score"] = bootstrap_mean([j / 2 for j in judged], seed=seed)
        iv["judge_correct"] = rate(sum(j == 2 for j in judged), len(judged))
    lat = [r["latency_s"] for r in ok if r["latency_s"]]
    toks = sum(r["completion_tokens"] for r in ok)
    return {
        "answered": len(ok), "errors": len(rows) - len(ok), "answerable": len(ans), "unanswerable": len(una),
        **{k: v["value"] for k, v in iv.items()}, "judge_score": iv.get("judge_score", {}).get("value"),
        "judged": len(judged), "intervals": iv,
        "latency_s": _mean(lat), "tokens_per_s": round(toks / sum(lat), 2) if lat and sum(lat) > 0 else None,
        "mean_prompt_tokens": _mean([r["prompt_tokens"] for r in ok]),
        "mean_completion_tokens": _mean([r["completion_tokens"] for r in ok]),
        # a student that answers blank or the same text to every question still gets a refusal rate and an F1
        "collapse": collapse.detect_answers([r["answer"] for r in ok]),
    }


def per_section(rows: list[dict]) -> dict:
    """Refusals and false refusals per section (the document each question came from), with Wilson intervals.

    Args:
        rows: a system's answer rows (``source`` or ``section``, ``kind``, ``refused``, ``f1``).

    Returns:
        {section: {"answerable", "false_refusal": rate, "token_f1", "unanswerable", "refusal": rate}},
        sections sorted by name.
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if "error" not in r:
            groups[r["source"] or r["section"] or "?"].append(r)
    out = {}
    for sec in sorted(groups):
        ans = [r for r in groups[sec] if r["kind"] == "grounded"]
        una = [r for r in groups[sec] if r["kind"] == "unanswerable"]
        out[sec] = {"answerable": len(ans), "false_refusal": rate(sum(r["refused"] for r in ans), len(ans)),
                    "token_f1": _mean([r["f1"] for r in ans]), "unanswerable": len(una),
                    "refusal": rate(sum(r["refused"] for r in una), len(una))}
    return out


def paired(rows_a: list[dict], rows_b: list[dict], *, seed: int = 0) -> dict:
    """System A minus system B on the same questions: token F1 (answerable), refusals (unanswerable) and
    false refusals (answerable), as means of per-question differences with paired bootstrap intervals.

    Args:
        rows_a: system A's rows.
        rows_b: system B's rows (matched to A's by ``id``).
        seed: seed of the bootstrap.

    Returns:
        ``{"token_f1", "refusal_rate_unanswerable", "false_refusal_rate"}``, each ``{"value", "low", "high", "n"}``.
    """
    b = {r["id"]: r for r in rows_b if "error" not in r}
    both = [(r, b[r["id"]]) for r in rows_a if "error" not in r and r["id"] in b]
    ans = [(x, y) for x, y in both if x["kind"] == "grounded"]
    una = [(x, y) for x, y in both if x["kind"] == "unanswerable"]
    return {"token_f1": bootstrap_diff([x["f1"] for x, _ in ans], [y["f1"] for _, y in ans], seed=seed),
            "refusal_rate_unanswerable": bootstrap_diff([float(x["refused"]) for x, _ in una],
                                                        [float(y["refused"]) for _, y in una], seed=seed),
            "false_refusal_rate": bootstrap_diff([float(x["refused"]) for x, _ in ans],
                                                 [float(y["refused"]) for _, y in ans], seed=seed)}


def _index_chunks(cfg, ds: Path) -> dict[str, dict]:
    p = Path(cfg.index) if cfg.index else ds.parent / "chunks.jsonl"
    if not p.exists():
        p = ds / "chunks.jsonl"
    out = {}
    for line in p.read_text("utf-8").splitlines():
        if line.strip():
            c = json.loads(line)
            out[c["id"]] = {"id": c["id"], "text": c["text"], "source": c.get("source", "")}
    return out


class DocsEvalResult(Result):
    """What `distill docs eval` returns (``results.json``); its summary is ``results.md``."""

    items: int
    unanswerable_items: int
    results: dict
    seconds: float
    out: str
    config: dict

    def summary(self) -> str:
        return markdown(self)


def evaluate(cfg: DocsEvalConfig, *, teacher=None, student=None, judge=None, untrained=None) -> DocsEvalResult:
    """Evaluate; the models may be injected (tests), else built from ``cfg``.

    Args:
        cfg: the evaluation settings (data set, systems, retrieval, judge, prices).
        teacher: the answering teacher to inject (None: built from ``cfg``).
        student: the trained student to inject (None: built from ``cfg.student``).
        judge: a judge to inject (None: built from ``cfg.judge``).
        untrained: the starting model to inject (None: built from ``cfg.untrained``).

    Returns:
        JSON-able results (also written to the output folder): ``dataset``, ``items``,
        ``unanswerable_items``, ``retrieval`` (index size, top-k, how often the source chunk was retrieved),
        ``results`` (scores per system, with intervals), ``per_section``, ``paired``, ``judge_agreement``,
        ``dataset_build``, ``prices``, ``size_ok``, ``seconds``, ``out``, ``config``.

    Raises:
        ValueError: the data set's eval.jsonl is empty.
    """
    ds = Path(cfg.dataset)
    items = read_items(ds, "eval")
    if cfg.max_items and cfg.max_items < len(items):  # evenly spread: answerable and unanswerable alike
        items = [items[int(i * len(items) / cfg.max_items)] for i in range(cfg.max_items)]
    if not items:
        raise ValueError(f"{ds}/eval.jsonl is empty: generate more data or raise --quality.eval-fraction.")
    train_chunks = {it["chunk_id"] for it in read_items(ds, "train")} if (ds / "train.jsonl").exists() else set()
    shared = sorted(train_chunks & {it["chunk_id"] for it in items})
    if shared:
        raise ValueError(f"{len(shared)} chunk(s) have questions in both train.jsonl and eval.jsonl "
                         f"(e.g. {shared[0]}): the held-out set must be split by chunk; regenerate the data set.")
    n_una = sum(it["kind"] == "unanswerable" for it in items)
    size_ok = len(items) >= cfg.min_items and n_una >= cfg.min_unanswerable
    if not size_ok:
        log.warning("only %d held-out questions (%d unanswerable); intervals will be wide (aim for ≥ %d, ≥ %d).",
                    len(items), n_una, cfg.min_items, cfg.min_unanswerable)
    chunks = read_chunks(ds)
    index_chunks = _index_chunks(cfg, ds)
    known = chunks | index_chunks
    systems = [s for s in SYSTEMS if s in cfg.systems and (s != "teacher" or cfg.compare_teacher)]
    card = json.loads((ds / "dataset.json").read_text()) if (ds / "dataset.json").exists() else {}
    work = Path(cfg.out) if cfg.out else ds.parent / "eval"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    loaded: dict[str, object] = {}

    def load(spec):
        if spec not in loaded:  # the embedded model on the engine --teacher-backend names
            loaded[spec] = load_teacher(spec, backend=cfg.teacher_backend, timeout=cfg.timeout,
                                        max_retries=cfg.max_retries)
        return loaded[spec]

    if teacher is None and ("teacher" in systems or cfg.judge == "teacher"):
        teacher = cfg.load_teacher()
        loaded[cfg.teacher] = teacher
    if untrained is None and {"untrained", "untrained_rag"} & set(systems):
        untrained = load(cfg.untrained)
    if student is None and {"student", "student_rag"} & set(systems):
        student = load(cfg.student)
    if judge is None and cfg.judge != "none":
        judge = teacher if cfg.judge == "teacher" else load(cfg.judge)
    models = {"untrained": untrained, "untrained_rag": untrained, "student": student, "student_rag": student,
              "teacher": teacher}

    # Retrieval: the top-k chunks of each question, and the prompts of every system.
    index = Index(list(index_chunks), [c["text"] for c in index_chunks.values()])
    hits = {it["id"]: index.search(it["question"], cfg.top_k) for it in items}
    ans_items = [it for it in items if it["kind"] == "grounded"]
    top1 = sum(hits[it["id"]][0][0] == it["chunk_id"] for it in ans_items)
    topk = sum(it["chunk_id"] in {c for c, _ in hits[it["id"]]} for it in ans_items)

    def cut(text):
        return text[: cfg.passage_chars]

    def prompt(system, it):
        sys_msg, user = it["messages"][0], it["messages"][1]
        if system in ("untrained", "student"):
            return [sys_msg, user]
        if system == "teacher":
            src = known.get(it["chunk_id"]) if it["kind"] == "grounded" else None
            passage = src["text"] if src else known[hits[it["id"]][0][0]]["text"]
            return [sys_msg, {"role": "user", "content": context_prompt(it["question"], [cut(passage)])}]
        passages = [cut(index_chunks[c]["text"]) for c, _ in hits[it["id"]]]
        return [sys_msg, {"role": "user", "content": context_prompt(it["question"], passages)}]

    # Answers and verdicts are recorded like generation calls: a rerun reuses them (the latencies are those
    # measured then); each system has its own store, so adding a system later costs only its own calls.
    stores = []

    def recorded(model, name):
        r = RecordedTeacher(model, work / f"calls_{name}.sqlite")
        stores.append(r)
        return r

    rows: dict[str, list[dict]] = {}
    results: dict[str, dict] = {}
    agree = None
    try:
        j_rec = recorded(judge, "judge") if judge is not None else None
        tmpl = read_rubric(cfg.judge_rubric)
        for s in systems:
            comps = _answers(recorded(models[s], s), [prompt(s, it) for it in items], cfg, f"{s} answers")
            rows[s] = _rows(items, comps, known)
            if j_rec is not None and (not cfg.judge_systems or s in cfg.judge_systems):
                todo = [(r, it) for r, it in zip(rows[s], items, strict=True) if "error" not in r]
                scores = judge_answers(j_rec, [{"question": it["question"], "reference": it["answer"],
                                                "answer": r["answer"]} for r, it in todo], tmpl,
                                       concurrency=cfg.concurrency, max_tokens=cfg.judge_max_tokens,
                                       desc=f"judge {s}", rubric=cfg.judge_rubric)
                for (r, _), sc in zip(todo, scores, strict=True):
                    r["judge"] = sc
            results[s] = summarise(rows[s], seed=cfg.seed)
            (work / f"answers_{s}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                             for r in rows[s]))
        if cfg.judge_check:
            agree = judge_agreement(j_rec, tmpl, is_refusal=is_refusal, concurrency=cfg.concurrency,
                                    max_tokens=cfg.judge_max_tokens, rubric=cfg.judge_rubric)
    finally:
        for r in stores:
            r.close()
    # What 1,000 answers cost.
    for s in systems:
        r = results[s]
        if s != "teacher" and r["latency_s"] is not None:
            r["cost_per_1000"] = round(r["latency_s"] * 1000 * cfg.student_hourly / 3600, 4)
        if s == "teacher" and r["mean_prompt_tokens"] is not None and (cfg.price_in or cfg.price_out):
            r["cost_per_1000"] = round((r["mean_prompt_tokens"] * cfg.price_in
                                        + r["mean_completion_tokens"] * cfg.price_out) * 1000 / 1e6, 4)
    pairs = {f"{a} − {b}": paired(rows[a], rows[b], seed=cfg.seed)
             for a, b in (("student", "untrained"), ("student_rag", "untrained_rag"), ("student_rag", "student"))
             if a in rows and b in rows}
    build = card.get("teacher_tokens", {})
    res = {
        "dataset": str(ds), "items": len(items), "unanswerable_items": n_una,
        "unanswerable_by_origin": dict(sorted(_origins(items).items())),
        "sections": len({it.get("source") or it.get("section") for it in items}),
        "size_ok": size_ok, "student_model": cfg.student, "untrained_model": cfg.untrained,
        "teacher_model": getattr(teacher, "name", None) if teacher else None,
        "judge_model": getattr(judge, "name", None) if judge else None,
        "retrieval": {"method": "TF-IDF (scikit-learn, word 1–2-grams)", "index_chunks": len(index_chunks),
                      "top_k": cfg.top_k, "passage_chars": cfg.passage_chars,
                      "source_chunk_top1": rate(top1, len(ans_items)),
                      "source_chunk_in_top_k": rate(topk, len(ans_items))},
        "results": results, "paired": pairs,
        "per_section": {s: per_section(rows[s]) for s in systems},
        "judge_agreement": agree,
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


def _origins(items) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for it in items:
        if it["kind"] == "unanswerable":
            out[it.get("origin") or "teacher-written"] += 1
    return out


ROWS = [("token F1 vs reference (answerable)", "token_f1"), ("exact match (answerable)", "exact_match"),
        ("grounding: answer words in the source chunk", "grounding"),
        ("refusal rate, unanswerable (↑)", "refusal_rate_unanswerable"),
        ("… of them written by the teacher as not in the excerpt", "refusal_rate_unanswerable_teacher-written"),
        ("… of them about another product (its docs)", "refusal_rate_unanswerable_other-docs"),
        ("false refusals, answerable (↓)", "false_refusal_rate"),
        ("judge: share graded correct (2 of 2)", "judge_correct"), ("judge score (share of 2)", "judge_score")]
COST_ROWS = [("latency per answer, s", "latency_s"), ("generation tokens/s", "tokens_per_s"),
             ("mean prompt tokens", "mean_prompt_tokens"), ("cost per 1,000 answers, $", "cost_per_1000")]


def fmt_interval(iv: dict | None) -> str:
    """``0.412 [0.371, 0.455]`` (and ``k/n`` for a proportion), or ``–`` when there is no value.

    Args:
        iv: ``{"value", "low", "high"[, "k", "n"]}`` or None.

    Returns:
        The cell text.
    """
    if not iv or iv.get("value") is None:
        return "–"
    counts = f" ({iv['k']}/{iv['n']})" if "k" in iv else ""
    return f"{iv['value']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}]{counts}"


def markdown(res: dict) -> str:
    """The Markdown report of an `evaluate` result.

    Args:
        res: an `evaluate` result.

    Returns:
        Markdown text.
    """
    systems = list(res["results"])
    n_ans = res["items"] - res["unanswerable_items"]
    origins = ", ".join(f"{n} {o}" for o, n in res.get("unanswerable_by_origin", {}).items())
    lines = [f"## Documentation assistant: {res['items']} held-out questions ({n_ans} answerable, "
             f"{res['unanswerable_items']} not answered by the docs{': ' + origins if origins else ''}; "
             f"{res.get('sections', '?')} sections)", "",
             "95 % intervals in brackets (Wilson for proportions, bootstrap over questions for means).", "",
             "| | " + " | ".join(SYSTEM_LABELS.get(s, s) for s in systems) + " |", "|---|" + "---:|" * len(systems)]
    for label, key in ROWS:
        cells = [fmt_interval(res["results"][s].get("intervals", {}).get(key)) for s in systems]
        if all(c == "–" for c in cells):
            continue
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, key in COST_ROWS:
        vals = [res["results"][s].get(key) for s in systems]
        if all(v is None for v in vals):
            continue
        lines.append(f"| {label} | " + " | ".join("–" if v is None else f"{v:g}" for v in vals) + " |")
    if not res.get("size_ok", True):
        lines += ["", f"**Fewer held-out questions than the {res['config'].get('min_items')} / "
                  f"{res['config'].get('min_unanswerable')} (unanswerable) aimed for: the intervals are wide.**"]
    for s in systems:
        c = res["results"][s].get("collapse", {})
        if c.get("collapsed"):
            lines += ["", f"**The {s} has {collapse.verdict(c['reasons'])}.** Its scores above do not measure "
                      "a working model."]
    if res.get("paired"):
        lines += ["", "Paired differences on the same questions (bootstrap 95 %):", "",
                  "| | token F1 | refusals, unanswerable | false refusals |", "|---|---:|---:|---:|"]
        for name, p in res["paired"].items():
            lines.append(f"| {name} | " + " | ".join(fmt_interval(p[k]) for k in (
                "token_f1", "refusal_rate_unanswerable", "false_refusal_rate")) + " |")
    r = res.get("retrieval")
    if r:
        lines += ["", f"Retrieval: {r['method']} over {r['index_chunks']} chunks, top {r['top_k']} in the prompt; "
                  f"the source chunk is retrieved first for {fmt_interval(r['source_chunk_top1'])} of the "
                  f"answerable questions, in the top {r['top_k']} for {fmt_interval(r['source_chunk_in_top_k'])}."]
    a = res.get("judge_agreement")
    if a:
        rule = a["rule_f1_0.5"]
        lines += [""]
        if a.get("judge"):
            j = a["judge"]
            lines.append(f"Judge `{res.get('judge_model')}` on the {a['items']} hand-labelled answers: "
                         f"**{j['right']}/{j['n']} right** ({fmt_interval(j['rate'])}); it called "
                         f"{j['says_correct']} correct (the labels: {j['true_pos'] + j['false_neg']}), "
                         f"{j['unparsed']} verdicts unparsed.")
        lines.append(f"Judge-free rule (refusal ⇔ reference is a refusal, else token F1 ≥ 0.5) on the same set: "
                     f"{rule['right']}/{rule['n']} right.")
    b = res["dataset_build"]
    lines += ["", f"Building the data set used {b['teacher_prompt_tokens']:,} prompt and "
              f"{b['teacher_completion_tokens']:,} completion tokens of the teacher"
              + (f" (${b['cost']:g} at the prices given)." if b["cost"] is not None else ".")]
    sec = res.get("per_section", {})
    show = [s for s in ("untrained", "student", "student_rag") if s in sec]
    if show:
        lines += ["", "### Per section: false refusals (answerable) and refusals (unanswerable)", "",
                  "| section | answerable | unanswerable | " + " | ".join(
                      f"{SYSTEM_LABELS[s]}: false refusals | refusals" for s in show) + " |",
                  "|---|---:|---:|" + "---:|---:|" * len(show)]
        first = sec[show[0]]
        for name in sorted(first, key=lambda k: (-(first[k]["answerable"] + first[k]["unanswerable"]), k)):
            cells = []
            for s in show:
                d = sec[s].get(name, {})
                fr, rf = d.get("false_refusal", {}), d.get("refusal", {})
                cells += [f"{fr['k']}/{fr['n']}" if fr.get("n") else "–", f"{rf['k']}/{rf['n']}" if rf.get("n") else "–"]
            lines.append(f"| {name} | {first[name]['answerable']} | {first[name]['unanswerable']} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(res: dict):
    """Quality bars per system (F1, judge, refusals) with their 95 % intervals, beside seconds per answer.

    Args:
        res: an `evaluate` result.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    from distill.plotting import legend_below

    systems = list(res["results"])
    keys = [("F1", "token_f1"), ("judge", "judge_correct"), ("refuses\nunanswerable", "refusal_rate_unanswerable"),
            ("false\nrefusals", "false_refusal_rate")]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    a, b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    w = 0.8 / len(systems)
    for i, s in enumerate(systems):
        ivs = res["results"][s].get("intervals", {})
        vals = [(ivs.get(k) or {}).get("value") or 0 for _, k in keys]
        err = [[max(0.0, v - ((ivs.get(k) or {}).get("low") or v)) for (_, k), v in zip(keys, vals, strict=True)],
               [max(0.0, ((ivs.get(k) or {}).get("high") or v) - v) for (_, k), v in zip(keys, vals, strict=True)]]
        a.bar([x + i * w for x in range(len(keys))], vals, w, yerr=err, capsize=2, label=SYSTEM_LABELS.get(s, s))
        b.barh([i], [res["results"][s].get("latency_s") or 0], 0.6, label=s)
    a.set_xticks([x + w * (len(systems) - 1) / 2 for x in range(len(keys))], [k for k, _ in keys])
    a.set_ylim(0, 1.05)  # a bar of 1 does not touch the frame
    a.set_title(f"quality on {res.get('items', 'the')} held-out questions (95 % intervals)")
    # Below the axes: inside, the legend sat on the bars of scores near 1.
    legend_below(a, columns=min(3, len(systems)), gap=0.5)
    b.set_yticks(range(len(systems)), [s.replace("_", " ") for s in systems])  # horizontal: five names fit
    b.invert_yaxis()
    b.set_title("seconds per answer")
    return fig


def _plot(res: dict, path: Path) -> None:
    figure(res).savefig(path, dpi=110)

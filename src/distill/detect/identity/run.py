"""`distill detect identity`: probe one or two models with "which model are you?" questions.

Every answer is recorded (``RecordedTeacher``, SQLite) as it arrives, so an interrupted run resumes where it
stopped and a rerun with more samples asks only the new ones. ``answers.jsonl`` holds each answer with the
names found in it and its claims, for review.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Literal

from distill.config import check, doc, settings, to_dict
from distill.detect.identity.claims import AliasTable
from distill.detect.identity.plain import PlainTextTeacher, can_continue_text, is_base_model
from distill.detect.identity.probes import CONDITIONS, Probe, build_probes, load_probe_set
from distill.results import Result
from distill.teachers import (
    SPEC_FORMS,
    ChatRequest,
    RecordedTeacher,
    TeacherOptions,
    load_teacher,
    run_chats,
)

log = logging.getLogger(__name__)


@settings
class IdentityConfig(TeacherOptions):
    """Settings of `distill detect identity` (the model probed and how to reach it: :class:`TeacherOptions`).

    The probed model is rarely a teacher of ours, so its options are named ``--model`` / ``--model-id`` /
    ``--model-identity`` on the command line (recipe keys keep the field names: teacher, teacher_model, ...)."""

    teacher: str = doc(f"the model to probe: {SPEC_FORMS}", flag="--model", default="smollm2")
    teacher_model: str = doc("--model is an HTTP endpoint: the model id there (default: the first its /v1/models "
                             "lists)", flag="--model-id", default="")

    compare: str = doc("a second model (same forms as --model, e.g. 'gemma3-270m'), probed the same way; the "
                       "report shows which claims to be which", default="")
    compare_model: str = doc("model id at the --compare HTTP endpoint (default: the first it lists)",
                             flag="--compare-id", default="")
    out: str = doc("output folder: answers.jsonl, results.json, results.md, claim_rates.png, calls.sqlite",
                   default="runs/identity")
    languages: tuple[str, ...] = doc("language codes to ask in (default: every language of the probe set)", default=())
    questions: int = doc("questions per language, the first N of the probe set (0: all)", default=0, ge=0)
    samples: int = doc("sampled answers per question and condition (each with its own seed)", default=3, ge=1)
    conditions: tuple[str, ...] = doc("'no_system' (no system prompt) and/or 'anchor' (a fictional identity)", default=CONDITIONS)
    temperature: float = doc("sampling temperature (> 0: several samples should differ)", default=0.7, gt=0)
    max_tokens: int = doc("tokens per answer (a claim comes in the first sentence)", default=48, ge=1)
    seed: int = doc("base seed; sample s of every question uses seed*1000 + s", default=0)
    prompt_format: Literal["auto", "chat", "plain"] = doc(
        "chat messages, or a plain 'Question: … Answer:' text for base models; auto: plain when the model "
        "has no chat template (in-process models only)", default="auto")
    probes: str = doc("your own probe set (YAML, layout of the packaged probes.yaml)", default="")
    aliases: str = doc("extra alias table (YAML) that adds or replaces identities and negation cues", default="")
    teacher_identity: str = doc("the probed model's own identity id in the alias table (default: guessed from its "
                                "name)", flag="--model-identity", default="")
    compare_identity: str = doc("the compared model's own identity id (default: guessed from its name)", default="")

    def __post_init__(self):
        check(bool(self.teacher.strip()), "model", self.teacher, SPEC_FORMS)  # named as the user typed it
        super().__post_init__()
        check((self.compare, self.compare_model) != (self.teacher, self.teacher_model), "compare", self.compare,
              "a model other than --model")
        check(bool(self.conditions) and set(self.conditions) <= set(CONDITIONS), "conditions", self.conditions,
              f"a non-empty subset of {list(CONDITIONS)}")


def _plain(teacher, prompt_format: str) -> bool:
    if prompt_format == "auto":
        return is_base_model(teacher) and can_continue_text(teacher)
    return prompt_format == "plain"


def ask(teacher, spec: str, probes: list[Probe], cfg: IdentityConfig, table: AliasTable, out: Path,
        stop: list[str]) -> tuple[list[dict], str]:
    """Every probe's answer and claims; answers are recorded in ``out/calls.sqlite`` as they arrive,
    so a rerun (after a kill, or with more samples) asks only what is not there yet.

    Args:
        teacher: the loaded model backend (from ``load_teacher``).
        spec: the model's label in the records and the report (its model id at an endpoint, else its spec).
        probes: the requests, from :func:`build_probes`.
        cfg: the run's settings (prompt format, temperature, max tokens, concurrency).
        table: the alias table answers are classified with.
        out: the output folder holding ``calls.sqlite``.
        stop: strings that end a plain-text answer (the probe set's question and answer labels).

    Returns:
        ``(records, format)``: one dict per probe, in probe order (``teacher``, ``lang``, ``question``,
        ``condition``, ``sample``, ``seed``, ``format``, ``prompt``, ``system``, ``answer``, ``claims``,
        ``completion_tokens``, ``mentions``), and "plain" or "chat", how the model was asked.

    Raises:
        ValueError: plain text was asked for but the backend cannot continue raw text.
    """
    plain = _plain(teacher, cfg.prompt_format)
    backend = PlainTextTeacher(teacher, stop=stop) if plain else teacher
    recorded = RecordedTeacher(backend, out / "calls.sqlite")
    requests = [ChatRequest(messages=[{"role": "user", "content": p.plain()}] if plain else p.messages(),
                            max_tokens=cfg.max_tokens, temperature=cfg.temperature, seed=p.seed) for p in probes]
    try:
        answers = run_chats(recorded, requests, concurrency=cfg.concurrency, desc=f"probing {spec}")
    finally:
        log.info("%s: %d answers recorded before, %d asked now", spec, recorded.hits, recorded.misses)
        recorded.close()
    records = []
    for p, req, c in zip(probes, requests, answers, strict=True):
        text = p.cut(c.text) if plain else c.text.strip()
        records.append({
            "teacher": spec, "lang": p.lang, "question": p.question, "condition": p.condition, "sample": p.sample,
            "seed": p.seed, "format": "plain" if plain else "chat",
            "prompt": req.messages[-1]["content"], "system": None if plain else p.system, "answer": text,
            "claims": table.claims(text), "completion_tokens": c.completion_tokens,
            "mentions": [{"identity": m.identity, "text": m.text, "negated": m.negated} for m in table.find(text)]})
    return records, "plain" if plain else "chat"


class IdentityResult(Result):
    """What `distill detect identity` returns (``results.json``); its summary is ``results.md``."""

    answers: int
    config: dict


def run(cfg: IdentityConfig) -> IdentityResult:
    """Probe the model (and the ``--compare`` model), classify the answers, write the reports.

    Args:
        cfg: the run's settings.

    Returns:
        The summary of :func:`distill.detect.identity.report.summarize` with the config, prompt formats,
        answer counts and seconds; also written to ``cfg.out`` (``results.json``, ``results.md``,
        ``answers.jsonl``, ``claim_rates.png``).

    Raises:
        ValueError: both models have the same label, a given own identity is not in the alias table, or a
            probe or alias file is malformed.
        FileNotFoundError: a probe or alias file does not exist.
    """
    from distill.detect.identity.report import markdown, summarize, write_reports

    t0 = time.time()
    table = AliasTable.load(cfg.aliases or None)
    probes = build_probes(load_probe_set(cfg.probes or None), languages=cfg.languages, questions=cfg.questions,
                          samples=cfg.samples, conditions=cfg.conditions, seed=cfg.seed)
    # (label, spec, model id): a model is named by its id at an endpoint where given, else by its spec
    models = [(cfg.teacher_model or cfg.teacher, cfg.teacher, cfg.teacher_model)]
    if cfg.compare:
        models.append((cfg.compare_model or cfg.compare, cfg.compare, cfg.compare_model))
    specs = [label for label, _, _ in models]
    if len(set(specs)) < len(specs):
        raise ValueError(f"--model and --compare are both named {specs[0]!r}; give them different --model-id "
                         "and --compare-id ids.")
    own = {}
    for label, given in zip(specs, (cfg.teacher_identity, cfg.compare_identity), strict=False):
        if given and given not in table.labels:
            raise ValueError(f"identity {given!r} of {label!r} is not in the alias table; known: {sorted(table.labels)}.")
        own[label] = given or table.identity_of(label)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    stop = sorted({p.question_label for p in probes} | {p.answer_label for p in probes} | {"Question:", "\n\n"})
    records, formats = [], {}
    for label, spec, model in models:
        teacher = load_teacher(spec, model=model, api_key_env=cfg.api_key_env, timeout=cfg.timeout,
                               max_retries=cfg.max_retries, max_connections=max(16, 2 * cfg.concurrency))
        recs, formats[label] = ask(teacher, label, probes, cfg, table, out, stop)
        records += recs
        del teacher  # free the first model's memory before loading the second
    with (out / "answers.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    res = summarize(records, table, own, specs)
    res |= {"config": to_dict(cfg), "prompt_format": formats, "answers": len(records),
            "probes_per_model": len(probes), "seconds": round(time.time() - t0, 1)}
    res = IdentityResult(res, report=markdown(res, records, table))
    write_reports(res, records, table, out)
    return res

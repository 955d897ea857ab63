"""`distill detect attribution-collect`: ask N models the same prompts and record every answer.

Each source is anything ``load_teacher`` takes, optionally named: ``LABEL=SPEC`` (``smollm2``,
``tiny=runs/student/model``, ``gpt=http://localhost:8000/v1``, ``/models/x.gguf``). Every call goes through a
:class:`~distill.teachers.RecordedTeacher` under ``out/calls.sqlite``, so an interrupted run is resumed by
running the same command (answered prompts are read back, not asked again); ``answers.jsonl`` is rewritten,
whole and atomically, at the end of each source.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from distill.config import check, doc, settings, to_dict
from distill.detect.attribution.prompts import Prompt, load_prompts
from distill.files import atomic_text
from distill.results import Result
from distill.teachers import SPEC_FORMS, ChatRequest, RecordedTeacher, load_teacher, run_chats

log = logging.getLogger(__name__)


@settings
class AttributionCollectConfig:
    """Settings of `distill detect attribution-collect`."""

    sources: tuple[str, ...] = doc(f"the models to ask, each LABEL=SPEC or SPEC; SPEC: {SPEC_FORMS}",
                                   default=(), required=True)
    out: str = doc("output folder: answers.jsonl, calls.sqlite (the resumable record)", default="runs/attribution")
    prompts: str = doc("your own prompts (JSONL: text, and optionally id, group, lang); default: the shipped "
                       "480-prompt set (6 templates × 20 topics × en, fr, de, es)", default="")
    languages: tuple[str, ...] = doc("keep only these languages (default: all)", default=())
    groups: int = doc("use at most this many prompt groups (a group: one prompt in every language; 0: all)",
                      default=0, ge=0)
    system: str = doc("a system prompt given to every source (default: none)", default="")
    max_tokens: int = doc("tokens per answer", default=128, ge=1)
    temperature: float = doc("sampling temperature", default=0.7, ge=0)
    seed: int = doc("sampling seed of every request", default=0)
    concurrency: int = doc("requests in flight per source", default=4, ge=1)
    api_key_env: str = doc("NAME of the environment variable holding HTTP endpoints' API key", default="")

    def __post_init__(self):
        labels = [parse_source(s)[0] for s in self.sources]
        check(len(set(labels)) == len(labels), "sources", self.sources, "sources with distinct labels")


def parse_source(text: str) -> tuple[str, str]:
    """``LABEL=SPEC`` → (label, spec); a bare spec is its own label. A URL's ``=`` (in a query) is not a label.

    Args:
        text: what the user typed.

    Returns:
        (label, spec).
    """
    label, sep, spec = text.partition("=")
    if not sep or "://" in label or "/" in label:
        return text, text
    return label.strip(), spec.strip()


def ask_source(label: str, teacher, prompts: list[Prompt], cfg: AttributionCollectConfig, out: Path) -> list[dict]:
    """One source's answers to every prompt, through the recorder (a rerun asks only what is missing).

    Args:
        label: the source's name in the answers.
        teacher: the loaded teacher.
        prompts: the prompts.
        cfg: the settings.
        out: the output folder (holds calls.sqlite).

    Returns:
        One row per prompt: source, prompt_id, group, lang, prompt, answer, tokens.
    """
    recorded = RecordedTeacher(teacher, out / "calls.sqlite")
    system = [{"role": "system", "content": cfg.system}] if cfg.system else []
    reqs = [ChatRequest(system + [{"role": "user", "content": p.text}], max_tokens=cfg.max_tokens,
                        temperature=cfg.temperature, seed=cfg.seed) for p in prompts]
    try:
        answers = run_chats(recorded, reqs, concurrency=cfg.concurrency, desc=f"asking {label}")
    finally:
        log.info("%s: %d answers recorded before, %d asked now", label, recorded.hits, recorded.misses)
        recorded.close()
    return [{"source": label, "prompt_id": p.id, "group": p.group, "lang": p.lang, "prompt": p.text,
             "system": cfg.system or None, "answer": a.text.strip(), "completion_tokens": a.completion_tokens,
             "finish_reason": a.finish_reason} for p, a in zip(prompts, answers, strict=True)]


class CollectResult(Result):
    """What `distill detect attribution-collect` returns: how many answers were recorded, and where."""

    answers: int
    prompts: int
    answers_file: str
    out: str

    def summary(self) -> str:
        return f"{self['answers']} answers to {self['prompts']} prompts → {self['answers_file']}"


def collect(cfg: AttributionCollectConfig, *, teachers: dict | None = None) -> CollectResult:
    """Ask every source every prompt; write ``answers.jsonl``.

    Args:
        cfg: the settings.
        teachers: label → teacher to use instead of loading (tests).

    Returns:
        Counts per source and language, the answers file and the settings.
    """
    t0 = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    prompts = load_prompts(cfg.prompts or None, cfg.languages, cfg.groups)
    rows: list[dict] = []
    for text in cfg.sources:
        label, spec = parse_source(text)
        teacher = (teachers or {}).get(label) or load_teacher(spec, api_key_env=cfg.api_key_env or None)
        rows += ask_source(label, teacher, prompts, cfg, out)
        atomic_text(out / "answers.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        log.info("%s: %d answers", label, len(prompts))
    by = {}
    for r in rows:
        by.setdefault(r["source"], {}).setdefault(r["lang"], 0)
        by[r["source"]][r["lang"]] += 1
    return CollectResult({"out": str(out), "answers_file": str(out / "answers.jsonl"), "answers": len(rows),
                          "prompts": len(prompts), "by_source_and_language": by,
                          "empty_answers": sum(not r["answer"] for r in rows),
                          "seconds": round(time.time() - t0, 1), "config": to_dict(cfg)})

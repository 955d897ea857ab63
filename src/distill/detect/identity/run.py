"""`distill detect identity`: probe one or two models with "which model are you?" questions.

Answers are appended to ``answers.jsonl`` as they arrive, keyed by model, probe and settings, so an
interrupted run resumes where it stopped and a rerun with more samples asks only the new ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from distill.config import check, doc, to_dict
from distill.detect.identity.claims import AliasTable
from distill.detect.identity.probes import CONDITIONS, Probe, build_probes, load_probe_set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdentityConfig:
    """Settings of `distill detect identity`."""

    teacher: str = doc("model to probe: 'smollm2', 'gemma3-270m' (embedded) or a Hugging Face model folder", default="")
    compare: str = doc("a second model, probed the same way; the report shows which claims to be which", default="")
    out: str = doc("output folder: answers.jsonl, identity.json, report.md, claim_rates.png", default="runs/identity")
    languages: tuple[str, ...] = doc("language codes to ask in (default: every language of the probe set)", default=())
    questions: int = doc("questions per language, the first N of the probe set (0: all)", default=0)
    samples: int = doc("sampled answers per question and condition (each with its own seed)", default=3)
    conditions: tuple[str, ...] = doc("'none' (no system prompt) and/or 'anchor' (a fictional identity)", default=CONDITIONS)
    temperature: float = doc("sampling temperature (> 0: several samples should differ)", default=0.7)
    max_tokens: int = doc("tokens per answer (a claim comes in the first sentence)", default=48)
    seed: int = doc("base seed; sample s of every question uses seed*1000 + s", default=0)
    prompt_format: Literal["auto", "chat", "plain"] = doc(
        "chat messages, or a plain 'Question: … Answer:' text for base models; auto: plain when the model "
        "has no chat template", default="auto")
    probes: str = doc("your own probe set (YAML, layout of the packaged probes.yaml)", default="")
    aliases: str = doc("extra alias table (YAML) that adds or replaces identities and negation cues", default="")
    teacher_identity: str = doc("the teacher's own identity id in the alias table (default: guessed from its name)",
                                default="")
    compare_identity: str = doc("the compared model's own identity id (default: guessed from its name)", default="")
    concurrency: int = doc("requests in flight at once (an in-process model batches them)", default=8)

    def __post_init__(self):
        check(bool(self.teacher), "teacher", self.teacher, "a model to probe (--teacher SPEC)")
        check(self.compare != self.teacher, "compare", self.compare, "a model other than --teacher")
        check(self.samples >= 1, "samples", self.samples, "≥ 1")
        check(self.questions >= 0, "questions", self.questions, "≥ 0")
        check(self.temperature > 0, "temperature", self.temperature, "> 0 (samples must be able to differ)")
        check(self.max_tokens >= 1, "max_tokens", self.max_tokens, "≥ 1")
        check(self.concurrency >= 1, "concurrency", self.concurrency, "≥ 1")
        check(bool(self.conditions) and set(self.conditions) <= set(CONDITIONS), "conditions", self.conditions,
              f"a non-empty subset of {list(CONDITIONS)}")


def load_teacher(spec: str):
    """The model behind ``spec``. Stand-in: in-process transformers only, until ``distill.teachers.load_teacher``."""
    from distill.detect.identity.local import LocalTeacher

    return LocalTeacher(spec)


def _uses_plain(teacher, prompt_format: str) -> bool:
    if prompt_format != "auto":
        return prompt_format == "plain"
    return getattr(teacher, "has_chat_template", True) is False and hasattr(teacher, "complete")


def _record_key(teacher: str, probe: Probe, prompt: str, cfg: IdentityConfig) -> str:
    h = hashlib.sha256(json.dumps([prompt, probe.seed, cfg.temperature, cfg.max_tokens]).encode()).hexdigest()[:16]
    return f"{teacher}|{probe.key}|{h}"


def _read_done(path: Path) -> dict[str, dict]:
    done = {}
    if path.exists():
        for line in path.read_text("utf-8").splitlines():
            try:
                rec = json.loads(line)
                done[rec["key"]] = rec
            except (json.JSONDecodeError, KeyError):
                log.warning("skipping an unreadable line in %s (an interrupted write)", path)
    return done


async def _ask_all(teacher, spec: str, probes: list[Probe], cfg: IdentityConfig, table: AliasTable,
                   answers: Path) -> list[dict]:
    """Ask every probe not yet in ``answers``; append each answer as it arrives."""
    plain = _uses_plain(teacher, cfg.prompt_format)
    done = _read_done(answers)
    todo, records = [], []
    for p in probes:
        prompt = p.plain() if plain else json.dumps(p.messages(), ensure_ascii=False)
        key = _record_key(spec, p, prompt, cfg)
        (records.append(done[key]) if key in done else todo.append((p, prompt, key)))
    log.info("%s: %d answers on file, %d to ask", spec, len(records), len(todo))
    sem = asyncio.Semaphore(cfg.concurrency)

    async def one(p: Probe, prompt: str, key: str) -> dict:
        async with sem:
            kw = dict(max_tokens=cfg.max_tokens, temperature=cfg.temperature, seed=p.seed)
            c = await (teacher.complete(prompt, **kw) if plain else teacher.chat(p.messages(), **kw))
        text = p.cut(c.text) if plain else c.text.strip()
        found = table.find(text)
        return {"key": key, "teacher": spec, "lang": p.lang, "question": p.question, "condition": p.condition,
                "sample": p.sample, "seed": p.seed, "format": "plain" if plain else "chat", "prompt": prompt,
                "answer": text, "claims": table.claims(text), "completion_tokens": c.completion_tokens,
                "mentions": [{"identity": m.identity, "text": m.text, "negated": m.negated} for m in found]}

    answers.parent.mkdir(parents=True, exist_ok=True)
    with answers.open("a", encoding="utf-8") as f:
        tasks = [asyncio.ensure_future(one(*t)) for t in todo]
        for fut in tqdm(asyncio.as_completed(tasks), total=len(tasks), desc=f"probing {spec}", disable=None):
            rec = await fut
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()  # a killed run keeps every answer it got
            records.append(rec)
    return records


def run(cfg: IdentityConfig) -> dict:
    from distill.detect.identity.report import summarize, write_reports

    t0 = time.time()
    table = AliasTable.load(cfg.aliases or None)
    probes = build_probes(load_probe_set(cfg.probes or None), languages=cfg.languages, questions=cfg.questions,
                          samples=cfg.samples, conditions=cfg.conditions, seed=cfg.seed)
    specs = [cfg.teacher] + ([cfg.compare] if cfg.compare else [])
    own = {}
    for spec, given in zip(specs, (cfg.teacher_identity, cfg.compare_identity), strict=False):
        if given and given not in table.labels:
            raise ValueError(f"identity {given!r} of {spec!r} is not in the alias table; known: {sorted(table.labels)}.")
        own[spec] = given or table.identity_of(spec)
    out = Path(cfg.out)
    records, formats = [], {}
    for spec in specs:
        teacher = load_teacher(spec)
        formats[spec] = "plain" if _uses_plain(teacher, cfg.prompt_format) else "chat"
        recs = asyncio.run(_ask_all(teacher, spec, probes, cfg, table, out / "answers.jsonl"))
        records += recs
        del teacher  # free the first model's memory before loading the second
    res = summarize(records, table, own, specs)
    res |= {"config": to_dict(cfg), "prompt_format": formats, "answers": len(records),
            "probes_per_model": len(probes), "seconds": round(time.time() - t0, 1)}
    write_reports(res, records, table, out)
    return res

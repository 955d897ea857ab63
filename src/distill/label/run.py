"""`distill label run`: a teacher labels texts — one class from a fixed set, or typed entity spans — with
every reply validated against a JSON schema, retried, counted, recorded and resumable.

Each reply must be a JSON object satisfying the task's schema (:mod:`distill.label.schema`); an invalid one
is asked again with another seed (up to ``--max-attempts``) and counted. Entity mentions are placed in the text
by exact string match (:func:`distill.label.spans.locate`): every span stored is ``text[start:end]``.

Records go to ``OUT/labels.jsonl``, one per text, keyed by the text's hash (:func:`~distill.label.data.text_id`),
with every reply of every attempt. They are appended block by block, each block flushed and fsynced before
the next starts (like the SQLite recorder of ``docs generate``: an append-only log; a line torn by a crash is
ignored on reading and that text labelled again). A rerun skips texts already recorded and labels the rest;
the settings that shape a label (teacher, task, label set, prompt, generation settings) are stamped in
``OUT/label-settings.json``, and a rerun with other settings is refused, naming them.

With a white-box teacher in process (transformers: the embedded ``smollm2`` or an HF folder), classification
records also carry soft labels: the probability of each label's tokens after ``{"label": "``, normalised over
the label set (:func:`soft_label_probs`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Literal

from distill.config import check, doc, settings, to_dict
from distill.files import atomic_json, write_results
from distill.label.data import (
    FINE_FOODS_HELP,
    FINE_FOODS_LABELS,
    NER_HELP,
    NER_TYPES,
    Item,
    load_items,
)
from distill.label.schema import Malformed, classification_schema, ner_schema, parse_reply
from distill.label.spans import classification_scores, locate, span_f1
from distill.results import Result
from distill.teachers import ChatRequest, TeacherOptions, arun_chats

log = logging.getLogger(__name__)

PROMPT_VERSION = 2
RECORDS = "labels.jsonl"
STAMP = "label-settings.json"


@settings
class LabelRunConfig(TeacherOptions):
    """Settings of `distill label run`."""

    data: str = doc("texts to label: 'fine_foods' (food reviews: great/other), 'fine_foods:test', 'headlines' "
                    "(generated financial headlines with gold entities) or a JSONL file of {\"text\", "
                    "\"label\"|\"entities\"} lines", default="headlines")
    task: Literal["auto", "classify", "ner"] = doc("what the teacher labels: a class ('classify'), entity spans "
                                                   "('ner'), or 'auto' (from the data)", default="auto")
    labels: tuple[str, ...] = doc("classification: the label set (default: the data's)", default=())
    types: tuple[str, ...] = doc("entity extraction: the entity types (default: ORG PER LOC MONEY)", default=())
    n: int = doc("label this many texts (a seeded sample; 0: all; headlines: how many to generate)", default=200,
                 ge=0)
    seed: int = doc("seed of the sample (and of the headline generator)", default=0)
    out: str = doc("folder of labels.jsonl and results (rerun the same command to resume)", default="runs/label")
    max_attempts: int = doc("tries per text when the reply breaks the schema (each with another seed)", default=3,
                            ge=1)
    max_tokens: int = doc("token limit of each reply (0: 16 for a class, 160 for entities)", default=0, ge=0)
    temperature: float = doc("sampling temperature of the first try (retries use at least 0.7)", default=0.0,
                             ge=0.0)
    soft: bool = doc("classification with an in-process transformers teacher: also record soft labels (label-"
                     "token probabilities)", default=True)
    validator: Literal["auto", "jsonschema", "strict"] = doc(
        "schema validator: jsonschema (auto: when installed) or the built-in strict one", default="auto")
    block: int = doc("texts per block: records are written after each block", default=64, ge=1)

    def __post_init__(self):
        super().__post_init__()
        check(len(set(self.labels)) == len(self.labels), "labels", self.labels, "distinct labels")
        check(len(set(self.types)) == len(self.types), "types", self.types, "distinct types")


def resolve_task(cfg: LabelRunConfig, items: list[Item]) -> tuple[str, tuple[str, ...], dict]:
    """The task, its label set (classes or entity types) and their descriptions for the prompt.

    Args:
        cfg: the settings.
        items: the texts (their gold says which task 'auto' means for a JSONL file).

    Returns:
        (task, labels, help): help maps a label to a description (empty for user-named labels).

    Raises:
        ValueError: classification without a label set.
    """
    task = cfg.task
    if task == "auto":
        task = "classify" if cfg.data.startswith("fine_foods") or cfg.labels or any(it.label for it in items) \
            else "ner"
    if task == "classify":
        labels = cfg.labels or (FINE_FOODS_LABELS if cfg.data.startswith("fine_foods") else
                                tuple(sorted({it.label for it in items if it.label})))
        if len(labels) < 2:
            raise ValueError(f"classification needs at least two labels; got {labels!r}: pass --labels A B ….")
        return task, tuple(labels), FINE_FOODS_HELP if labels == FINE_FOODS_LABELS else {}
    types = cfg.types or NER_TYPES
    return task, tuple(types), NER_HELP if tuple(types) == NER_TYPES else {}


def classify_prompt(text: str, labels: tuple[str, ...], help: dict) -> str:
    """The classification prompt.

    Args:
        text: the text to label.
        labels: the label set.
        help: label → description (may be empty).

    Returns:
        The user message.
    """
    lines = "\n".join(f"- {lab}: {help[lab]}" if lab in help else f"- {lab}" for lab in labels)
    return (f"Classify the text with exactly one of these labels:\n{lines}\n\nText: \"\"\"{text}\"\"\"\n\n"
            f"Reply with JSON only, for example {{\"label\": \"{labels[0]}\"}}.")


def ner_prompt(text: str, types: tuple[str, ...], help: dict) -> str:
    """The entity-extraction prompt.

    Args:
        text: the text to label.
        types: the entity types.
        help: type → description (may be empty).

    Returns:
        The user message.
    """
    lines = "\n".join(f"- {t}: {help[t]}" if t in help else f"- {t}" for t in types)
    return (f"List the named entities in the headline. Entity types:\n{lines}\n"
            f"Copy each entity's text exactly as it is written in the headline.\n\n"
            f"Headline: \"{text}\"\n\nReply with JSON only: {{\"entities\": [{{\"text\": …, \"type\": …}}, …]}} "
            f"(an empty list if there are none).")


# Worked examples shown before the text as earlier turns of the chat (small teachers need them); their names
# appear in no generated headline, and a copied one would not be found in the text (so it is dropped).
NER_SHOTS = (("Globex hires Ana Silva to run its Lisbon unit for $2m a year",
              [("Globex", "ORG"), ("Ana Silva", "PER"), ("Lisbon", "LOC"), ("$2m", "MONEY")]),
             ("Stocks slip as traders await inflation data", []),
             ("Zorvex Mining sells Peru copper stake to Halden Capital for €410 million",
              [("Zorvex Mining", "ORG"), ("Peru", "LOC"), ("Halden Capital", "ORG"), ("€410 million", "MONEY")]))


def messages(task: str, text: str, labels: tuple[str, ...], help: dict) -> list[dict]:
    """The chat sent to the teacher: for entities, worked examples as earlier turns, then the text.

    Args:
        task: "classify" or "ner".
        text: the text to label.
        labels: the label set or entity types.
        help: descriptions of the labels.

    Returns:
        OpenAI-style messages.
    """
    if task == "classify":
        return [{"role": "user", "content": classify_prompt(text, labels, help)}]
    shots = []
    if tuple(labels) == NER_TYPES:
        for t, ents in NER_SHOTS:
            shots += [{"role": "user", "content": ner_prompt(t, labels, help)},
                      {"role": "assistant", "content": json.dumps({"entities": [{"text": e, "type": k}
                                                                                for e, k in ents]})}]
    return shots + [{"role": "user", "content": ner_prompt(text, labels, help)}]


def stamp(cfg: LabelRunConfig, task: str, labels: tuple[str, ...], teacher_name: str) -> dict:
    """The settings that shape a label: a run with other values must not mix its records with these.

    Args:
        cfg: the settings.
        task: the resolved task.
        labels: the resolved label set or entity types.
        teacher_name: the teacher as the user named it.

    Returns:
        A JSON-able dict.
    """
    return {"teacher": teacher_name, "teacher_model": cfg.teacher_model, "task": task, "labels": list(labels),
            "max_tokens": max_tokens(cfg, task), "temperature": cfg.temperature, "max_attempts": cfg.max_attempts,
            "soft": cfg.soft, "validator": cfg.validator, "prompt_version": PROMPT_VERSION}


def max_tokens(cfg: LabelRunConfig, task: str) -> int:
    """The reply's token limit (``cfg.max_tokens``, or the task's default).

    Args:
        cfg: the settings.
        task: "classify" or "ner".

    Returns:
        The limit.
    """
    return cfg.max_tokens or (16 if task == "classify" else 160)


def check_stamp(out: Path, current: dict) -> None:
    """Write ``OUT/label-settings.json`` on a first run; on a rerun refuse other settings, naming each.

    Args:
        out: the output folder.
        current: this run's :func:`stamp`.

    Raises:
        ValueError: the folder's labels were made with other settings.
    """
    path = out / STAMP
    if not path.exists():
        atomic_json(path, current)
        return
    old = json.loads(path.read_text("utf-8"))
    changed = [f"{k}: {old.get(k)!r} → {current.get(k)!r}" for k in sorted(set(old) | set(current))
               if old.get(k) != current.get(k)]
    if changed:
        raise ValueError(f"{out} holds labels made with other settings ({'; '.join(changed)}). Rerun with the "
                         f"settings of {path}, or use another --out.")


def read_records(path: Path) -> dict[str, dict]:
    """Records of a labels.jsonl by text id (the last record of an id wins; a torn line is skipped).

    Args:
        path: the file (missing: no records).

    Returns:
        id → record.
    """
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for line in path.read_text("utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s: skipping a torn line (%d characters); its text is labelled again", path, len(line))
            continue
        if isinstance(rec, dict) and "id" in rec:
            out[rec["id"]] = rec
    return out


def append_records(path: Path, records: list[dict]) -> None:
    """Append records to a labels.jsonl, flushed and fsynced (the log a rerun resumes from).

    Args:
        path: the file.
        records: the records.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"  # a line cut by a crash: end it, so the next record starts a line
    with open(path, "a", encoding="utf-8") as f:
        if torn:
            f.write("\n")
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def soft_label_probs(engine, prompts: list[str], labels: tuple[str, ...], prefix: str = '{"label": "'
                     ) -> list[dict[str, float]]:
    """Soft labels from a white-box teacher: for each prompt, P(label) ∝ P(label's tokens, then '"' | the chat
    prompt and ``prefix``), normalised over ``labels``.

    Args:
        engine: an :class:`~distill.teachers.hf.HFEngine` (model, tokenizer, chat template).
        prompts: user messages.
        labels: the label set.
        prefix: the start of the reply the labels continue.

    Returns:
        One {label: probability} per prompt; the probabilities sum to 1.
    """
    import torch

    tok = engine.tokenizer
    conts = [tok(lab + '"', add_special_tokens=False)["input_ids"] for lab in labels]
    pre = tok(prefix, add_special_tokens=False)["input_ids"]
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    out = []
    for prompt in prompts:
        base = engine.chat_prompt_ids([{"role": "user", "content": prompt}]) + pre
        seqs = [base + c for c in conts]
        width = max(map(len, seqs))
        x = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=engine.device)  # (L, T)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=engine.device)
        with engine.lock, torch.inference_mode():
            logp = engine.model(input_ids=x, attention_mask=mask).logits.float().log_softmax(-1)  # (L, T, V)
        scores = torch.stack([sum(logp[i, len(base) + j - 1, t] for j, t in enumerate(c))
                              for i, c in enumerate(conts)])  # (L,) log P(label tokens)
        probs = scores.softmax(-1).tolist()
        out.append(dict(zip(labels, probs, strict=True)))
    return out


async def _label_block(teacher, items: list[Item], cfg: LabelRunConfig, task: str, labels: tuple[str, ...],
                       help: dict, schema: dict, stats: dict) -> list[dict]:
    """Label one block: ask, validate, retry the invalid with new seeds; one record per item."""
    jobs = [{"item": it, "messages": messages(task, it.text, labels, help), "attempts": [],
             "seed": int(it.id[:8], 16) % 1_000_003} for it in items]
    use = {"auto": None, "jsonschema": True, "strict": False}[cfg.validator]
    pending = jobs
    for attempt in range(cfg.max_attempts):
        if not pending:
            break
        reqs = [ChatRequest(j["messages"], max_tokens=max_tokens(cfg, task),
                            temperature=cfg.temperature if attempt == 0 else max(cfg.temperature, 0.7),
                            seed=j["seed"] + 1000 * attempt) for j in pending]
        results = await arun_chats(teacher, reqs, concurrency=cfg.concurrency, errors="return",
                                   desc=f"label (try {attempt + 1})")
        retry = []
        for job, res in zip(pending, results, strict=True):
            if isinstance(res, BaseException):
                stats["teacher_errors"] += 1
                job["error"] = f"{type(res).__name__}: {res}"
                continue  # not recorded as done: a rerun asks again
            stats["calls"] += 1
            stats["prompt_tokens"] += res.prompt_tokens
            stats["completion_tokens"] += res.completion_tokens
            job["model"] = res.model
            try:
                job["value"] = parse_reply(res.text, schema, use_jsonschema=use)
                job["attempts"].append({"reply": res.text, "valid": True})
            except Malformed as e:
                stats["invalid_replies"] += 1
                job["attempts"].append({"reply": res.text, "valid": False, "errors": str(e)})
                retry.append(job)
        pending = retry
    records = []
    for job in jobs:
        it = job["item"]
        if "error" in job and "value" not in job:
            continue
        rec = {"id": it.id, "text": it.text, "task": task, "attempts": job["attempts"],
               "retries": max(0, len(job["attempts"]) - 1), "teacher_model": job.get("model", "")}
        if task == "classify":
            rec["gold"] = it.label
        else:
            rec["gold"] = it.entities
        if "value" not in job:
            rec["status"] = "invalid"
            rec["teacher"] = None
            stats["gave_up"] += 1
        elif task == "classify":
            rec["status"], rec["teacher"] = "ok", job["value"]["label"]
        else:
            spans, missed = locate(it.text, job["value"]["entities"])
            rec["status"], rec["teacher"], rec["unlocated"] = "ok", spans, missed
            stats["located_spans"] += len(spans)
            stats["unlocated_mentions"] += len(missed)
        stats["retried_items"] += rec["retries"] > 0
        records.append(rec)
    return records


class LabelRunResult(Result):
    """What `distill label run` returns (also OUT/results.json)."""

    out: str
    task: str
    items: int
    labelled: int
    resumed: int
    teacher_stats: dict
    teacher_vs_gold: dict

    def summary(self) -> str:
        s, g = self["teacher_stats"], self["teacher_vs_gold"]
        score = (f"teacher vs gold: accuracy {g['accuracy']:.3f}, macro F1 {g['macro_f1']:.3f}" if "accuracy" in g
                 else f"teacher vs gold: span F1 {g['f1']:.3f} (P {g['precision']:.3f}, R {g['recall']:.3f})"
                 if "f1" in g else "no gold labels to compare with")
        return (f"{self['labelled']} of {self['items']} texts labelled ({self['task']}; {self['resumed']} read back "
                f"from {self['out']}/{RECORDS}); {s['invalid_replies']} invalid replies, {s['retried_items']} texts "
                f"retried, {s['gave_up']} gave up; {score}")


def score_records(records: list[dict], task: str, labels: tuple[str, ...]) -> dict:
    """The teacher's labels against gold, over records that have gold (an invalid reply counts as no label).

    Args:
        records: label records.
        task: "classify" or "ner".
        labels: the label set (classification).

    Returns:
        :func:`~distill.label.spans.classification_scores` or :func:`~distill.label.spans.span_f1`, or {} without gold.
    """
    rs = [r for r in records if r.get("gold") is not None]
    if not rs:
        return {}
    if task == "classify":
        return classification_scores([r["gold"] for r in rs], [r["teacher"] for r in rs], labels)
    return span_f1([r["gold"] for r in rs], [r["teacher"] or [] for r in rs])


def label(cfg: LabelRunConfig, *, teacher=None) -> LabelRunResult:
    """Label the texts ``cfg`` names, resuming from OUT/labels.jsonl; ``teacher`` may be injected (tests).

    Args:
        cfg: the settings.
        teacher: a teacher to use instead of loading ``cfg.teacher``.

    Returns:
        Counts, the teacher's statistics (calls, invalid replies, retries, located / unlocated mentions, CPU and
        wall seconds) and the teacher's labels scored against gold.

    Raises:
        ValueError: the folder holds labels made with other settings, or the data spec is unknown.
    """
    out = Path(cfg.out)
    items = load_items(cfg.data, cfg.n, cfg.seed)
    uniq: dict[str, Item] = {}
    for it in items:
        uniq.setdefault(it.id, it)
    items = list(uniq.values())
    task, labels, help = resolve_task(cfg, items)
    out.mkdir(parents=True, exist_ok=True)
    check_stamp(out, stamp(cfg, task, labels, cfg.teacher if teacher is None else getattr(teacher, "name", "")))
    path = out / RECORDS
    done = read_records(path)
    todo = [it for it in items if it.id not in done]
    schema = classification_schema(labels) if task == "classify" else ner_schema(labels)
    stats = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "teacher_errors": 0, "invalid_replies": 0,
             "retried_items": 0, "gave_up": 0, "located_spans": 0, "unlocated_mentions": 0, "recorded": 0}
    t0, c0 = time.perf_counter(), time.process_time()
    if todo:
        inner = teacher if teacher is not None else cfg.load_teacher()
        engine = getattr(inner, "engine", None) if cfg.soft and task == "classify" else None

        async def main():
            try:
                for b in range(0, len(todo), cfg.block):
                    block = todo[b : b + cfg.block]
                    bt, bc = time.perf_counter(), time.process_time()
                    recs = await _label_block(inner, block, cfg, task, labels, help, schema, stats)
                    if engine is not None and hasattr(engine, "model"):
                        probs = soft_label_probs(engine, [classify_prompt(r["text"], labels, help) for r in recs],
                                                 labels)
                        for r, p in zip(recs, probs, strict=True):
                            r["probs"] = p
                    cost = {"cpu_s": (time.process_time() - bc) / max(1, len(recs)),
                            "wall_s": (time.perf_counter() - bt) / max(1, len(recs))}
                    for r in recs:  # the block's cost shared out, so a resumed run still knows what labels cost
                        r["cost"] = {k: round(v, 4) for k, v in cost.items()}
                    append_records(path, recs)
                    stats["recorded"] += len(recs)
                    log.info("label: %d/%d texts done", min(b + cfg.block, len(todo)), len(todo))
            finally:
                aclose = getattr(inner, "aclose", None)
                if aclose is not None:
                    await aclose()

        asyncio.run(main())
    stats["wall_seconds"] = round(time.perf_counter() - t0, 3)
    stats["cpu_seconds"] = round(time.process_time() - c0, 3)
    labelled = stats["recorded"]
    stats["cpu_seconds_per_1000"] = round(1000 * stats["cpu_seconds"] / labelled, 1) if labelled else None
    stats["wall_seconds_per_1000"] = round(1000 * stats["wall_seconds"] / labelled, 1) if labelled else None
    records = read_records(path)
    wanted = [records[it.id] for it in items if it.id in records]
    costed = [r["cost"] for r in wanted if "cost" in r]
    if costed:  # over every record, this run's and earlier runs' (soft labels included)
        stats["all_records_cpu_seconds_per_1000"] = round(1000 * sum(c["cpu_s"] for c in costed) / len(costed), 1)
        stats["all_records_wall_seconds_per_1000"] = round(1000 * sum(c["wall_s"] for c in costed) / len(costed), 1)
    result = LabelRunResult(out=str(out), task=task, items=len(items), labelled=len(wanted),
                            resumed=len(items) - len(todo), teacher_stats=stats,
                            teacher_vs_gold=score_records(wanted, task, labels), labels=list(labels),
                            soft_labels=any("probs" in r for r in wanted), config=to_dict(cfg))
    from distill.label.review import write_review_set

    result["review_set"] = str(write_review_set(wanted, out / "review", list(labels)))
    write_results(out, result, result.summary())
    return result


def run(cfg: LabelRunConfig) -> LabelRunResult:
    """The CLI entry of `distill label run` (see :func:`label`).

    Args:
        cfg: the settings.

    Returns:
        The result.
    """
    return label(cfg)

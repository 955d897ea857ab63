"""Label records on the review page: approve, correct or reject a teacher's label, and the spot check.

:func:`write_review_set` turns ``labels.jsonl`` into a folder the existing review page reads
(``distill review OUT/review [--sample 0.05]``): one item per text, of kind ``label``, the text as the
"chunk" the reviewer reads and the teacher's label as the editable answer (JSON: ``{"label": …}`` or
``{"entities": [{"text", "type"}, …]}``). Decisions are kept in that folder's ``review.sqlite`` like any
review. :func:`reviewed_labels` reads them back: approved → the teacher's label; edited → the correction
(validated against the task's schema, mentions located in the text); rejected → dropped; pending → the
teacher's label, unreviewed. For a label set a corrected item is an error of the teacher as much as a
rejected one, so :func:`spot_check` (and the page) count both in the estimated error rate.
"""

from __future__ import annotations

import json
from pathlib import Path

from distill.files import atomic_json, atomic_text
from distill.label.schema import Malformed, classification_schema, ner_schema, parse_reply
from distill.label.spans import locate
from distill.review import sample
from distill.review.export import DB_NAME
from distill.review.store import Store

KIND = "label"


def answer_json(rec: dict) -> str:
    """The teacher's label of a record as the JSON the reviewer edits.

    Args:
        rec: a label record.

    Returns:
        ``{"label": …}`` or ``{"entities": [{"text", "type"}, …]}`` (``null`` values for an invalid reply).
    """
    if rec["task"] == "classify":
        return json.dumps({"label": rec.get("teacher")}, ensure_ascii=False)
    ents = [{"text": s["text"], "type": s["type"]} for s in rec.get("teacher") or []]
    return json.dumps({"entities": ents}, ensure_ascii=False)


def write_review_set(records: list[dict], folder: str | Path, labels: list[str]) -> Path:
    """A folder in the review page's format holding the label records (all in the train split).

    Args:
        records: label records (one task).
        folder: where to write train.jsonl, eval.jsonl (empty), chunks.jsonl and dataset.json.
        labels: the task's label set or entity types (kept in the card, for validating corrections).

    Returns:
        The folder.
    """
    folder = Path(folder)
    items, chunks = [], []
    for r in records:
        flags = ["invalid-reply"] if r.get("status") != "ok" else []
        flags += ["retried"] if r.get("retries") else []
        flags += ["unlocated-mention"] if r.get("unlocated") else []
        items.append({"id": r["id"], "split": "train", "kind": KIND, "question": f"{r['task']} label",
                      "reasoning": "", "answer": answer_json(r), "chunk_id": r["id"], "source": "labels.jsonl",
                      "section": r["task"], "support": [0, 0], "flags": flags})
        chunks.append({"id": r["id"], "text": r["text"], "source": "labels.jsonl", "section": r["task"]})
    lines = lambda rows: "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows)
    atomic_text(folder / "train.jsonl", lines(items))
    atomic_text(folder / "eval.jsonl", "")
    atomic_text(folder / "chunks.jsonl", lines(chunks))
    task = records[0]["task"] if records else "classify"
    atomic_json(folder / "dataset.json", {"product": "label review", "kind": KIND, "task": task, "labels": labels})
    return folder


def corrected(rec: dict, answer: str, labels: list[str]):
    """The label a reviewer's edited answer gives (schema-checked; mentions located in the text).

    Args:
        rec: the label record.
        answer: the edited JSON.
        labels: the label set or entity types.

    Returns:
        The label (classification) or the located spans (NER).

    Raises:
        Malformed: the edit breaks the task's schema.
    """
    if rec["task"] == "classify":
        return parse_reply(answer, classification_schema(labels))["label"]
    spans, _ = locate(rec["text"], parse_reply(answer, ner_schema(labels))["entities"])
    return spans


def reviewed_labels(records: list[dict], store: Store, labels: list[str]) -> tuple[list[dict], dict]:
    """Records with the reviewers' decisions applied (see the module docstring).

    Args:
        records: label records.
        store: the review store of their review set.
        labels: the label set or entity types.

    Returns:
        (records kept, each with ``label_source`` teacher | approved | corrected and the final ``teacher``
        label; counts by decision, with ``bad_edits``: corrections that broke the schema, kept as the
        teacher's label).
    """
    kept, counts = [], {"approved": 0, "edited": 0, "rejected": 0, "pending": 0, "bad_edits": 0}
    decisions = store.all()
    for r in records:
        d = decisions.get(r["id"], {"status": "pending", "edits": {}})
        counts[d["status"]] += 1
        if d["status"] == "rejected":
            continue
        r = dict(r)
        if d["status"] == "edited" and "answer" in d["edits"]:
            try:
                r["teacher"] = corrected(r, d["edits"]["answer"], labels)
                r["label_source"] = "corrected"
            except Malformed:
                counts["bad_edits"] += 1
                r["label_source"] = "teacher"
        else:
            r["label_source"] = "approved" if d["status"] == "approved" else "teacher"
        if r.get("teacher") is not None:
            kept.append(r)
    return kept, counts


def spot_check(store: Store, population: int, ids: list[str] | None = None) -> dict:
    """The teacher's label error rate estimated from the reviewed sample: corrected or rejected = an error.

    Args:
        store: the review store.
        population: labels in the whole set.
        ids: the sampled ids (default: the sample the page recorded, else every decided item).

    Returns:
        :func:`distill.review.sample.estimate`'s dict plus ``text`` (one sentence).
    """
    statuses = store.statuses()
    ids = ids if ids is not None else (store.meta("sample") or {}).get("ids") or list(statuses)
    done = [i for i in ids if statuses.get(i, "pending") != "pending"]
    errors = sum(statuses[i] in ("rejected", "edited") for i in done)
    est = sample.estimate(errors, len(done), population)
    return est | {"text": sample.describe(est, errors_are="rejected or corrected")}


def open_store(folder: str | Path) -> Store:
    """The review store of a review set (created empty when nobody reviewed yet).

    Args:
        folder: the review set folder.

    Returns:
        The store.
    """
    return Store(Path(folder) / DB_NAME)

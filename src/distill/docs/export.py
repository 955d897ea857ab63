"""The exported data set: the stable format that `distill docs train`, `distill docs eval` and the
review page read.

``DATASET/`` holds:
  * ``train.jsonl`` and ``eval.jsonl`` — one item per line (format below), split by chunk;
  * ``chunks.jsonl`` — the source chunks the items cite (``id``, ``source``, ``section``, ``text``);
  * ``hf/`` — the same items as a ``datasets`` DatasetDict (``load_from_disk``), when ``datasets`` is installed;
  * ``README.md`` — the data set card (counts, rejections per reason, coverage per section);
  * ``dataset.json`` — the card's numbers, machine-readable.

An item (format version 1; fields are only ever added, never renamed):
  ``id`` str (hash of chunk id + question) · ``split`` "train" | "eval" · ``kind`` "grounded" | "unanswerable"
  · ``question`` · ``reasoning`` ("" when none) · ``answer`` · ``chunk_id`` · ``source`` · ``section``
  · ``support`` [start, end] character span of the chunk that supports the answer ([0, 0] when none)
  · ``flags`` list of str raised by the filters · optional ``origin`` of an unanswerable item
  ("teacher-written" or "other-docs") and ``judge_grounded`` (the grounding judge's verdict) · ``messages`` the chat-format training example
  (system, user, assistant) · optional scores ``support_share``, ``support_similarity``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from pathlib import Path

from distill.docs.chunking import Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def system_prompt(product: str) -> str:
    """The system message of every training chat.

    Args:
        product: the documented product's name.

    Returns:
        The prompt text.
    """
    return (f"You are the documentation assistant for {product}. Answer from its documentation. "
            "If the documentation does not cover the question, say that it does not say.")


def assistant_text(item: dict) -> str:
    """What the student learns to write: the reasoning (when there is one), then the answer.

    Args:
        item: a data set item (``answer``, optionally ``reasoning``).

    Returns:
        The assistant's reply text.
    """
    if item.get("reasoning"):
        return f"{item['reasoning'].strip()}\n\nAnswer: {item['answer'].strip()}"
    return item["answer"].strip()


def final_answer(text: str) -> str:
    """The answer part of a reply written in the :func:`assistant_text` form.

    Args:
        text: a reply, with or without a reasoning part.

    Returns:
        The text after "Answer:", or the whole reply (stripped) when it has none.
    """
    head, sep, tail = text.rpartition("Answer:")
    return tail.strip() if sep else text.strip()


def item_flags(item: dict) -> list[str]:
    """Warnings a reviewer sees beside an item (unanswerable, reasoning, weak support, low similarity).

    Args:
        item: a kept data set item.

    Returns:
        The flags, as short phrases.
    """
    flags = []
    if item.get("kind") == "unanswerable":
        flags.append("unanswerable")
    if item.get("reasoning"):
        flags.append("multi-fact reasoning")
    share = item.get("support_share")
    if share is not None and share < 0.8:
        flags.append(f"weak lexical support ({share:.0%})")
    sim = item.get("support_similarity")
    if sim is not None and sim < 0.6:
        flags.append(f"low similarity ({sim:.2f})")
    return flags


def to_record(item: dict, product: str) -> dict:
    """The exported record of an item: its fields, a stable id, its flags and its chat ``messages``.

    Args:
        item: a kept item (question, answer, chunk_id, split, …).
        product: the documented product (named in the system prompt).

    Returns:
        The JSON-able record.
    """
    rec = {
        "id": hashlib.sha256(f"{item['chunk_id']}\n{item['question']}".encode()).hexdigest()[:16],
        "split": item["split"], "kind": item.get("kind", "grounded"),
        "question": item["question"], "reasoning": item.get("reasoning", ""), "answer": item["answer"],
        "chunk_id": item["chunk_id"], "source": item.get("source", ""), "section": item.get("section", ""),
        "support": list(item.get("support", [0, 0])), "flags": item_flags(item),
        "messages": [{"role": "system", "content": system_prompt(product)},
                     {"role": "user", "content": item["question"]},
                     {"role": "assistant", "content": assistant_text(item)}],
    }
    for k in ("support_share", "support_similarity", "origin", "judge_grounded"):
        if k in item:
            rec[k] = item[k]
    return rec


def read_items(dataset: str | Path, split: str) -> list[dict]:
    """The records of one split of an exported data set.

    Args:
        dataset: the data set folder.
        split: "train" or "eval".

    Returns:
        The records, in file order.

    Raises:
        FileNotFoundError: the split's JSONL file is missing.
    """
    p = Path(dataset) / f"{split}.jsonl"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: point at the dataset folder `distill docs generate` wrote "
                                f"(WORKDIR/dataset).")
    return [json.loads(line) for line in p.read_text("utf-8").splitlines() if line.strip()]


def read_chunks(dataset: str | Path) -> dict[str, dict]:
    """The data set's ``chunks.jsonl`` as {chunk id: chunk record}.

    Args:
        dataset: the data set folder.

    Returns:
        The chunk records by id.

    Raises:
        FileNotFoundError: ``chunks.jsonl`` is missing.
    """
    p = Path(dataset) / "chunks.jsonl"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: every item is read beside the chunk it came from.")
    return {c["id"]: c for c in map(json.loads, filter(str.strip, p.read_text("utf-8").splitlines()))}


def write_items(out: Path, records: list[dict], chunks: list[dict]) -> dict[str, int]:
    """Write ``train.jsonl`` / ``eval.jsonl`` (each atomically) and the chunks the records cite;
    returns the number of items per split.

    Args:
        out: the data set folder.
        records: the `to_record` records.
        chunks: chunk records (`Chunk.to_json`); only those the records cite are written.

    Returns:
        {split: number of items}.
    """
    counts = {}
    for split in ("train", "eval"):
        tmp = out / f"{split}.jsonl.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            rows = [r for r in records if r["split"] == split]
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        tmp.replace(out / f"{split}.jsonl")
        counts[split] = len(rows)
    cited = {r["chunk_id"] for r in records}
    with open(out / "chunks.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(c, ensure_ascii=False) + "\n" for c in chunks if c["id"] in cited)
    return counts


def export_dataset(out: Path, items: list[dict], chunks: list[Chunk], summary: dict, *, product: str) -> dict:
    """Write the data set folder: the JSONL splits, the cited chunks, ``dataset.json``, README.md and
    (with ``datasets`` installed) an ``hf/`` DatasetDict.

    Args:
        out: the data set folder (created if needed).
        items: the kept items.
        chunks: the chunks the items may cite.
        summary: the generation summary (``teacher``, ``generated``, ``teacher_stats``, ``filters``).
        product: the documented product's name.

    Returns:
        The card (``dataset.json``'s content) plus ``path`` and, when written, ``hf``.
    """
    out.mkdir(parents=True, exist_ok=True)
    records = [to_record(it, product) for it in items]
    write_items(out, records, [c.to_json() for c in chunks])
    by_split = defaultdict(list)
    for r in records:
        by_split[r["split"]].append(r)
    per_section = Counter(r["section"] or r["source"] for r in records if r["kind"] == "grounded")
    sections = {(" > ".join(c.titles) or c.source) for c in chunks}
    filters = summary["filters"]
    card = {
        "format_version": FORMAT_VERSION, "product": product, "teacher": summary["teacher"],
        "items": len(records), "train": len(by_split["train"]), "eval": len(by_split["eval"]),
        "unanswerable": sum(r["kind"] == "unanswerable" for r in records),
        "with_reasoning": sum(bool(r["reasoning"]) for r in records),
        "generated": summary["generated"], "rejected_by_step": filters["rejected_by_step"],
        "teacher_tokens": {"prompt": summary["teacher_stats"]["prompt_tokens"],
                           "completion": summary["teacher_stats"]["completion_tokens"]},
        "malformed_replies": summary["teacher_stats"]["malformed_replies"],
        "sections_total": len(sections), "sections_covered": len(per_section),
        "questions_per_section": dict(per_section.most_common()),
        "chunks_without_questions": len(filters["chunks_without_questions"]),
    }
    (out / "dataset.json").write_text(json.dumps(card, indent=2, ensure_ascii=False))
    (out / "README.md").write_text(dataset_card(card, filters))
    try:
        from datasets import Dataset, DatasetDict

        cols = ["id", "split", "kind", "question", "reasoning", "answer", "chunk_id", "source", "section"]
        DatasetDict({s: Dataset.from_list([{k: r[k] for k in cols} | {"messages": r["messages"]}
                                           for r in by_split[s]]) for s in ("train", "eval") if by_split[s]}
                    ).save_to_disk(str(out / "hf"))
        card["hf"] = str(out / "hf")
    except ModuleNotFoundError:
        log.info("datasets not installed: no hf/ folder (the JSONL files are the data set)")
    card["path"] = str(out)
    return card


def dataset_card(card: dict, filters: dict) -> str:
    """The data set's README.md.

    Args:
        card: the `export_dataset` card.
        filters: the quality filters' report.

    Returns:
        Markdown text.
    """
    lines = [f"# Documentation Q&A data set: {card['product']}", "",
             f"Written by the teacher `{card['teacher']}` from the product's documentation with `distill docs "
             f"generate`; every answer was checked against the chunk it came from. Format version "
             f"{card['format_version']} (see `distill.docs.export`).", "",
             "| | count |", "|---|---:|",
             f"| items | {card['items']} |", f"| train / eval (split by chunk) | {card['train']} / {card['eval']} |",
             f"| questions the docs do not answer | {card['unanswerable']} |",
             f"| with a reasoning chain | {card['with_reasoning']} |",
             f"| generated before filtering | {card['generated']} |",
             f"| malformed teacher replies | {card['malformed_replies']} |",
             f"| teacher tokens (prompt / completion) | {card['teacher_tokens']['prompt']:,} / "
             f"{card['teacher_tokens']['completion']:,} |", "",
             "## Removed by the filters", "", "| step | in | removed |", "|---|---:|---:|"]
    for step, s in filters["steps"].items():
        lines.append(f"| {step} | {s['in']} | {s['removed']} |")
    lines += ["", f"## Coverage: {card['sections_covered']} of {card['sections_total']} sections", "",
              "| section | questions |", "|---|---:|"]
    lines += [f"| {sec} | {n} |" for sec, n in list(card["questions_per_section"].items())[:50]]
    missing = filters["chunks_without_questions"]
    if missing:
        lines += ["", f"## Chunks with no question ({len(missing)})", ""]
        lines += [f"- `{m['chunk_id']}` {m['source']} — {m['section']}" for m in missing[:100]]
    return "\n".join(lines) + "\n"

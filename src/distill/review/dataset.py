"""The data set under review, read once at start: items (train, then eval), their chunks, the card."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# Fields the page shows or filters by, and the types they must have (a record's other fields are carried along).
TEXT_FIELDS = ("question", "reasoning", "answer", "section", "source", "chunk_id", "split", "kind")


@dataclass
class Dataset:
    path: Path
    items: list[dict]
    chunks: dict[str, dict]
    card: dict = field(default_factory=dict)

    @property
    def by_id(self) -> dict[str, dict]:
        return self._by_id

    def __post_init__(self):
        self._by_id = {it["id"]: it for it in self.items}
        self.flags = sorted({f for it in self.items for f in it.get("flags", [])})
        self.sections = sorted({it.get("section") or it.get("source", "") for it in self.items})

    @property
    def product(self) -> str:
        return str(self.card.get("product") or "the product")


def _records(p: Path) -> list[tuple[int, dict]]:
    """(line number, record) of each non-blank line of a JSONL file; a bad line is an error naming file and line."""
    out = []
    try:
        lines = p.read_text("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not UTF-8 (byte {e.start}); it must be the JSONL `distill docs generate` writes.") \
            from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            raise ValueError(f"{p}:{n}: not valid JSON ({getattr(e, 'msg', type(e).__name__)}).") from None
        if not isinstance(rec, dict):
            raise ValueError(f"{p}:{n}: a record must be a JSON object, got {type(rec).__name__}.")
        out.append((n, rec))
    return out


REQUIRED = ("question", "answer", "chunk_id", "split")  # what an export (and an edit) rebuilds the record from


def _check_item(p: Path, n: int, it: dict, split: str) -> None:
    where = f"{p}:{n}"
    if not isinstance(it.get("id"), str) or not it["id"]:
        raise ValueError(f"{where}: 'id' must be a non-empty string, got {it.get('id')!r} "
                         "(format of distill.docs.export).")
    bad = f"{where}: item {it['id']!r}:"
    missing = [k for k in REQUIRED if k not in it]
    if missing:
        raise ValueError(f"{bad} missing {missing} (format of distill.docs.export).")
    for k in TEXT_FIELDS:
        if it.get(k) is not None and not isinstance(it[k], str):
            raise ValueError(f"{bad} {k!r} must be a string, got {it[k]!r}.")
    if it["split"] != split:
        raise ValueError(f"{bad} 'split' is {it['split']!r} in {split}.jsonl.")
    flags = it.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise ValueError(f"{bad} 'flags' must be a list of strings, got {flags!r}.")
    if not isinstance(it.get("support", []), list):
        raise ValueError(f"{bad} 'support' must be a [start, end] list, got {it['support']!r}.")
    for k in ("support_share", "support_similarity"):
        v = it.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ValueError(f"{bad} {k!r} must be a number, got {v!r}.")
    msgs = it.get("messages", [])
    if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
        raise ValueError(f"{bad} 'messages' must be a list of objects, got {msgs!r}.")


def load(path: str | Path) -> Dataset:
    """Read ``train.jsonl``, ``eval.jsonl``, ``chunks.jsonl`` and ``dataset.json`` (the last optional).

    Malformed records are errors naming the file and line: not JSON, not an object, an item without a
    string id (a form can only send strings back), fields of the wrong type, a chunk without an id.

    Args:
        path: the data set folder ``distill docs generate`` wrote (WORKDIR/dataset).

    Returns:
        The items of both splits (in file order), the chunks by id, and the card ({} without one).

    Raises:
        FileNotFoundError: the folder, a split file or chunks.jsonl is missing.
        ValueError: a malformed record, a duplicate item id, or a dataset.json that is not a JSON object.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"data set folder {path} not found: point at the folder `distill docs generate` "
                                f"wrote (WORKDIR/dataset).")
    items, seen = [], {}
    for split in ("train", "eval"):
        p = path / f"{split}.jsonl"
        if not p.exists():
            raise FileNotFoundError(f"{p} not found: point at the dataset folder `distill docs generate` wrote "
                                    f"(WORKDIR/dataset).")
        for n, it in _records(p):
            _check_item(p, n, it, split)
            if it["id"] in seen:
                raise ValueError(f"{p}:{n}: item id {it['id']!r} is also on {seen[it['id']]}; ids must be unique.")
            seen[it["id"]] = f"{p.name}:{n}"
            items.append(it)
    p = path / "chunks.jsonl"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: every item is read beside the chunk it came from.")
    chunks = {}
    for n, c in _records(p):
        if not isinstance(c.get("id"), str) or not isinstance(c.get("text", ""), str):
            raise ValueError(f"{p}:{n}: a chunk needs a string 'id' and 'text', got id {c.get('id')!r}.")
        chunks[c["id"]] = c
    card_file = path / "dataset.json"
    card = {}
    if card_file.exists():
        try:
            card = json.loads(card_file.read_text("utf-8"))
        except (ValueError, RecursionError) as e:
            raise ValueError(f"{card_file}: not valid JSON ({e}).") from None
        if not isinstance(card, dict):
            raise ValueError(f"{card_file}: must be a JSON object, got {type(card).__name__}.")
    return Dataset(path, items, chunks, card)


def support_parts(text: str, span) -> tuple[str, str, str] | None:
    """The chunk split at the supporting span: (before, span, after), raw text for the template to escape
    part by part. None when there is no span or it does not fit the text.

    Args:
        text: the chunk's text.
        span: (start, end) character offsets, 0 ≤ start < end ≤ len(text).

    Returns:
        (before, span, after), or None.
    """
    try:
        s, e = int(span[0]), int(span[1])
    except (TypeError, ValueError, IndexError, KeyError, OverflowError):  # 1e999 reads as inf: no span
        return None
    if not 0 <= s < e <= len(text):
        return None
    return text[:s], text[s:e], text[e:]

"""The data set under review, read once at start: items (train, then eval), their chunks, the card."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from distill.docs.export import read_chunks, read_items


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
        return self.card.get("product") or "the product"


def load(path: str | Path) -> Dataset:
    """Read ``train.jsonl``, ``eval.jsonl``, ``chunks.jsonl`` and ``dataset.json`` (the last optional)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"data set folder {path} not found: point at the folder `distill docs generate` "
                                f"wrote (WORKDIR/dataset).")
    items = [it for split in ("train", "eval") for it in read_items(path, split)]
    ids = [it.get("id") for it in items]
    if None in ids or len(set(ids)) != len(ids):
        raise ValueError(f"{path}: every item needs a unique 'id' (format of distill.docs.export).")
    chunks = read_chunks(path)
    card_file = path / "dataset.json"
    card = json.loads(card_file.read_text("utf-8")) if card_file.exists() else {}
    return Dataset(path, items, chunks, card)


def support_parts(text: str, span) -> tuple[str, str, str] | None:
    """The chunk split at the supporting span: (before, span, after), raw text for the template to escape
    part by part. None when there is no span or it does not fit the text."""
    try:
        s, e = int(span[0]), int(span[1])
    except (TypeError, ValueError, IndexError):
        return None
    if not 0 <= s < e <= len(text):
        return None
    return text[:s], text[s:e], text[e:]

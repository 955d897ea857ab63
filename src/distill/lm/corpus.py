"""Text corpora for LM distillation, tokenized and packed into fixed-length windows.

Accepted inputs: a text file (.txt, .md, .rst, ...), a JSONL file (one {"text": ...} per
line), a folder of such files (recursively, sorted), or a ``datasets`` folder saved with
``save_to_disk`` (its "text" column). Documents are joined with the tokenizer's EOS token
and cut into windows of exactly ``window`` tokens; the tail that does not fill a window is
dropped. The order is deterministic, so window i always holds the same tokens, which is
what makes capture resumable and shards comparable across runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import torch

TEXT_SUFFIXES = {".txt", ".md", ".rst", ".text", ".html", ".htm"}


def iter_documents(path: str | Path) -> Iterator[str]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus {path} does not exist.")
    if path.is_dir() and (path / "dataset_info.json").exists():
        from datasets import load_from_disk

        ds = load_from_disk(str(path))
        if "text" not in ds.column_names:
            raise ValueError(f"datasets folder {path} has no 'text' column (columns: {ds.column_names}).")
        yield from (t for t in ds["text"] if t)
        return
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if f.suffix == ".jsonl":
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    rec = json.loads(line)
                    if "text" not in rec:
                        raise ValueError(f"{f}:{i}: JSONL records need a 'text' field.")
                    yield rec["text"]
        elif f.suffix in TEXT_SUFFIXES or path == f:
            text = f.read_text(encoding="utf-8", errors="replace")
            if text.strip():
                yield text


def pack_windows(path: str | Path, tokenizer, window: int, max_windows: int | None = None) -> torch.Tensor:
    """All windows of the corpus: int64 tensor (N, window)."""
    if window < 2:
        raise ValueError(f"window must be ≥ 2 tokens, got {window}.")
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for doc in iter_documents(path):
        ids.extend(tokenizer(doc, add_special_tokens=False)["input_ids"])
        if eos is not None:
            ids.append(eos)
        if max_windows is not None and len(ids) >= max_windows * window:
            break
    n = len(ids) // window
    if max_windows is not None:
        n = min(n, max_windows)
    if n == 0:
        raise ValueError(f"corpus {path} has {len(ids)} tokens, fewer than one window of {window}; "
                         "give more text or a smaller --window.")
    return torch.tensor(ids[: n * window], dtype=torch.long).view(n, window)

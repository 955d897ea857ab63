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
    """The documents of a corpus, in order.

    Args:
        path: a text/JSONL file, a folder of them (searched recursively), or a saved ``datasets``
            folder with a ``text`` column.

    Yields:
        Each non-empty document's text.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a datasets folder without a ``text`` column, or a JSONL record without ``text``.
    """
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
    """All windows of the corpus: int64 tensor (N, window).

    Args:
        path: the corpus (see `iter_documents`).
        tokenizer: tokenizes each document; its EOS token (if any) ends each one.
        window: tokens per window.
        max_windows: keep at most this many windows (None: all).

    Returns:
        int64 tensor (N, window) of consecutive token ids.

    Raises:
        ValueError: ``window`` < 2, or the corpus is shorter than one window.
    """
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


def is_chat_jsonl(path: str | Path) -> bool:
    """True for a JSONL file whose records carry chat ``messages`` (e.g. a `distill docs` data set).

    Args:
        path: a file, or a folder holding ``train.jsonl``.

    Returns:
        Whether its first record has ``messages``.
    """
    path = Path(path)
    if path.is_dir() and (path / "train.jsonl").exists():
        path = path / "train.jsonl"
    if not (path.is_file() and path.suffix == ".jsonl"):
        return False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                return "messages" in json.loads(line)
    return False


def render_chat(tokenizer, messages: list[dict]) -> tuple[str, str]:
    """(prompt, completion) text of a chat whose last message is the assistant's reply to learn.

    With a chat template the prompt ends with the template's assistant header; without one (a bare
    tokenizer) a plain "Question: … Answer:" layout is used, so small test models work too.

    Args:
        tokenizer: supplies the chat template (if any) and the EOS token.
        messages: chat messages (``role``, ``content``), the last one the assistant's.

    Returns:
        (prompt, completion) text.

    Raises:
        ValueError: the last message is not the assistant's.
    """
    *context, reply = messages
    if reply.get("role") != "assistant":
        raise ValueError("the last message of a training chat must be the assistant's reply.")
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(context, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt):]
    system = "".join(m["content"] + "\n\n" for m in context if m["role"] == "system")
    user = "\n".join(m["content"] for m in context if m["role"] == "user")
    return f"{system}Question: {user}\nAnswer: ", reply["content"] + (tokenizer.eos_token or "")


def chat_examples(path: str | Path, tokenizer, max_length: int, field: str | None = None):
    """Chat JSONL → (ids (N, L) right-padded, mask (N, L) True on the reply's tokens only).

    Training on replies only (the loss ignores the system prompt and the question) is what teaches a
    model to answer rather than to ask. Right padding needs no attention mask in a causal model: pad
    positions come after every counted token and are themselves never counted.

    Args:
        path: a chat JSONL file, or a folder holding ``train.jsonl``.
        tokenizer: renders and tokenizes each chat.
        max_length: longest kept sequence L (longer ones are cut; prompts that fill it are dropped).
        field: also return this field of each kept record (e.g. "teacher"); None if a record lacks it.

    Returns:
        (ids, mask): int64 (N, L) and bool (N, L); with ``field``, (ids, mask, values) where values[j]
        is example j's field and ``where``-strings "file:line" follow as a fourth element.

    Raises:
        ValueError: a record has no ``messages``, or no example fits.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "train.jsonl"
    rows: list[tuple[list[int], int]] = []
    values, where = [], []
    too_long = 0
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if "messages" not in rec:
            raise ValueError(f"{path}:{i}: chat records need a 'messages' list.")
        prompt, reply = render_chat(tokenizer, rec["messages"])
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r = tokenizer(reply, add_special_tokens=False)["input_ids"]
        if len(p) + 1 >= max_length:
            too_long += 1
            continue
        rows.append(((p + r)[:max_length], len(p)))
        if field is not None:
            values.append(rec.get(field))
            where.append(f"{path}:{i}")
    if not rows:
        raise ValueError(f"{path} holds no usable chat examples ({too_long} longer than --window {max_length}).")
    L = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    ids = torch.full((len(rows), L), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.bool)
    for j, (seq, n_prompt) in enumerate(rows):
        ids[j, : len(seq)] = torch.tensor(seq)
        mask[j, n_prompt : len(seq)] = True
    return (ids, mask) if field is None else (ids, mask, values, where)

"""Writing files a crash must not tear, and every command's results.

Each write goes to a temporary name beside the target, is flushed to disk, and is renamed over
it (``os.replace`` is atomic on POSIX and Windows): a reader sees the old file or the new one,
never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable


def atomic_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    Args:
        path: the file to write; its folder is created if missing.
        data: the whole content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Args:
        path: the file to write.
        text: the whole content.
    """
    atomic_bytes(path, text.encode("utf-8"))


def atomic_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (UTF-8, non-ASCII kept) to ``path`` atomically.

    Args:
        path: the file to write.
        obj: anything ``json.dumps`` takes.
    """
    atomic_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_results(out: str | Path, result: dict, markdown: Callable[[dict], str] | str | None = None) -> list[Path]:
    """A command's results: ``OUT/results.json`` (everything) beside ``OUT/results.md`` (the readable tables).

    Args:
        out: the command's output folder.
        result: the command's result dict (what ``--json`` prints).
        markdown: the report, or a function making it from ``result``; None: the result's own report
            (a :class:`distill.results.Result` made with one), else the JSON only.

    Returns:
        The paths written.
    """
    out = Path(out)
    atomic_json(out / "results.json", result)
    written = [out / "results.json"]
    if markdown is None:
        markdown = getattr(result, "report", None) or None
    if markdown is not None:
        text = markdown(result) if callable(markdown) else markdown
        atomic_text(out / "results.md", text if text.endswith("\n") else text + "\n")
        written.append(out / "results.md")
    return written

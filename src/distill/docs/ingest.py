"""`distill docs ingest DIR`: a documentation tree → ``chunks.jsonl`` plus a report of what was skipped.

Markdown, reStructuredText, HTML and plain text are read; PDF too when ``pypdf`` is installed
(``pip install 'distill[docs]'``). Files that cannot be documentation — binary, empty, larger than
``--max-file-mb``, not UTF-8 (content or file name), of another type — are skipped and listed with the reason.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path

from distill.config import check, doc, settings, to_dict
from distill.docs.chunking import Chunk, Section, chunk_sections, parse_text, parser_for
from distill.files import atomic_json
from distill.progress import bar
from distill.results import Result

log = logging.getLogger(__name__)

# Extension-less files that are documentation by convention.
PLAIN_NAMES = {"README", "FAQ", "INSTALL", "NEWS", "CHANGES", "CHANGELOG", "USAGE", "HACKING", "TODO"}


@settings
class IngestConfig:
    """Settings of `distill docs ingest`."""

    source: str = doc("documentation: a folder (read recursively) or one file", default="", flag="source", required=True)
    out: str = doc("output folder: chunks.jsonl and ingest.json", default="runs/docs")
    target_chars: int = doc("aim for chunks of about this many characters", default=1200)
    max_chars: int = doc("never make a chunk longer than this", default=2400)
    min_section_chars: int = doc("join a section shorter than this to the next one", default=200)
    max_file_mb: float = doc("skip files larger than this (MB)", default=20.0, gt=0)

    def __post_init__(self):
        check(0 < self.target_chars <= self.max_chars, "target_chars", self.target_chars,
              f"in (0, max_chars={self.max_chars}]")


def _pdf_sections(path: Path, title: str) -> list[Section]:
    from pypdf import PdfReader  # optional: the docs extra

    pages = [p.extract_text() or "" for p in PdfReader(str(path)).pages]
    return parse_text("\n\n".join(pages), title)


def read_sections(path: Path, rel: str, max_bytes: int) -> tuple[list[Section] | None, str | None]:
    """(sections, None) for a readable document, (None, reason) for a skipped one.

    Args:
        path: the file.
        rel: its path relative to the source root (the sections' title).
        max_bytes: larger files are skipped.

    Returns:
        (sections, None) or (None, reason).
    """
    size = path.stat().st_size
    if size == 0:
        return None, "empty file"
    if size > max_bytes:
        return None, f"larger than the limit ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB)"
    title = path.name.split(".")[0].replace("_", " ").replace("-", " ")
    if path.suffix.lower() == ".pdf":
        try:
            secs = _pdf_sections(path, title)
        except ModuleNotFoundError:
            return None, "PDF needs the pypdf package (pip install 'distill[docs]')"
        except Exception as e:  # a broken PDF is a skipped file, not a failed run
            return None, f"unreadable PDF ({type(e).__name__}: {e})"
        return (secs, None) if secs else (None, "no text in PDF")
    parse = parser_for(path.name)
    if parse is None and path.name.upper() in PLAIN_NAMES:
        parse = parse_text
    if parse is None:
        return None, f"unsupported type '{path.suffix or path.name}'"
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        return None, "binary content"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 (byte {e.start})"
    if not text.strip():
        return None, "empty file"
    return parse(text, title), None


class IngestResult(Result):
    """What `distill docs ingest` returns (also ``OUT/ingest.json``)."""

    files_read: int
    files_skipped: int
    skipped_by_reason: dict
    chunks: int
    sections: int
    chunks_file: str

    def summary(self) -> str:
        return (f"{self['files_read']} files → {self['chunks']} chunks in {self['sections']} sections "
                f"({self['files_skipped']} skipped: {self['skipped_by_reason']}) → {self['chunks_file']}")


def ingest(cfg: IngestConfig) -> IngestResult:
    """`distill docs ingest`: parse every document under the source and write its chunks.

    Args:
        cfg: the ingest settings (``source``, ``out``, chunk sizes).

    Returns:
        The report (also written to ``ingest.json``): files seen/read/skipped and why, chunk counts,
        sections, chunk sizes, ``chunks_file``, ``config``.

    Raises:
        FileNotFoundError: the source does not exist.
        ValueError: the source holds no files, or no text.
    """
    root = Path(cfg.source)
    if not root.exists():
        raise FileNotFoundError(f"documentation source {root} does not exist")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise ValueError(f"{root} holds no files; point --source at your documentation folder.")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    chunks: dict[str, Chunk] = {}
    skipped: list[dict] = []
    duplicates = 0
    read = 0
    for path in bar(files, desc="docs ingest", unit="file"):
        rel = str(path.relative_to(root)) if root.is_dir() else path.name
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:  # the name's bytes are not UTF-8 (Linux keeps them as surrogates)
            skipped.append({"path": os.fsencode(rel).decode("utf-8", "backslashreplace"),
                            "reason": "file name is not UTF-8 (rename the file)"})
            continue
        sections, reason = read_sections(path, rel, int(cfg.max_file_mb * 1e6))
        if sections is None:
            skipped.append({"path": rel, "reason": reason})
            continue
        read += 1
        for c in chunk_sections(sections, rel, target=cfg.target_chars, maximum=cfg.max_chars,
                                minimum=cfg.min_section_chars):
            if c.id in chunks:
                duplicates += 1  # same text elsewhere: one chunk, first source kept
            else:
                chunks[c.id] = c
    if not chunks:
        raise ValueError(f"no text found in {root}: {len(skipped)} file(s) skipped "
                         f"({', '.join(sorted({s['reason'] for s in skipped})[:3])}).")
    tmp = out / "chunks.jsonl.tmp"
    with open(tmp, "w") as f:
        for c in chunks.values():
            f.write(json.dumps(c.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(out / "chunks.jsonl")
    sizes = sorted(len(c.text) for c in chunks.values())
    report = {
        "files_seen": len(files), "files_read": read, "files_skipped": len(skipped),
        "skipped_by_reason": dict(Counter(s["reason"].split(" (")[0].split(" '")[0] for s in skipped).most_common()),
        "skipped": skipped, "chunks": len(chunks), "duplicate_chunks_dropped": duplicates,
        "sections": len({(c.source, c.titles) for c in chunks.values()}),
        "chars": {"total": sum(sizes), "min": sizes[0], "median": sizes[len(sizes) // 2], "max": sizes[-1]},
        "chunks_file": str(out / "chunks.jsonl"), "config": to_dict(cfg),
    }
    report = IngestResult(report)
    atomic_json(out / "ingest.json", report)  # a stage record beside chunks.jsonl in the shared work folder
    return report


def load_chunks(path: str | Path) -> list[Chunk]:
    """The chunks an ingest wrote.

    Args:
        path: ``chunks.jsonl`` or the folder holding it.

    Returns:
        The chunks, in file order.

    Raises:
        FileNotFoundError: there is no such file.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "chunks.jsonl"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: run `distill docs ingest` first.")
    return [Chunk.from_json(json.loads(line)) for line in p.read_text().splitlines() if line.strip()]

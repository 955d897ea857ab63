"""The log record: its fields, and how bad records are counted, kept as examples and skipped."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

FIELDS = ("ts", "request_id", "account_id", "ip", "payment_id", "user_agent", "model", "system_prompt",
          "prompt", "prompt_tokens", "completion_tokens")
STRING_FIELDS = ("request_id", "account_id", "ip", "payment_id", "user_agent", "model", "system_prompt", "prompt")


class BadRows:
    """Counts of skipped records by reason, with the first few examples (file and line) of each.

    Args:
        examples: examples kept per reason (and notes kept per kind in the summary).
    """

    def __init__(self, examples: int = 3):
        self.counts: Counter = Counter()
        self.examples: dict[str, list[dict]] = {}
        self.notes: dict[str, list[dict]] = {}
        self.keep = examples

    def add(self, reason: str, file: str, line: int | None, text: str = "") -> None:
        """Count one skipped record.

        Args:
            reason: why it was skipped, e.g. "malformed JSON".
            file: the file it came from.
            line: its line number (1-based), or None where unknown.
            text: the record's text; the first 200 characters are kept with the example.
        """
        self.counts[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.keep:
            ex.append({"file": str(file), "line": line, "text": text[:200]})

    def note(self, what: str, file, line: int | None) -> None:
        """Something read anyway that the user should know about (not a skipped record).

        Args:
            what: what was noticed.
            file: the file.
            line: the line number (1-based), or None.
        """
        self.notes.setdefault(what, []).append({"file": str(file), "line": line})

    def add_count(self, reason: str, n: int, file: str) -> None:
        """Count ``n`` skipped records at once (where the reader gives counts, not lines: Spark).

        Args:
            reason: why they were skipped.
            n: how many.
            file: the file they came from.
        """
        self.counts[reason] += n
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.keep:
            ex.append({"file": str(file), "line": None, "text": f"{n} records"})

    def summary(self) -> dict:
        by_reason = dict(sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))  # stable order
        return {"total": sum(self.counts.values()), "by_reason": by_reason,
                "examples": {k: self.examples[k] for k in by_reason if k in self.examples},
                "notes": {k: v[: self.keep] for k, v in sorted(self.notes.items())}}


def _text(v) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def jsonl_to_parquet(src: Path, dst: Path, bad: BadRows, batch: int = 200_000) -> Path:
    """Copy a JSON-lines log to Parquet (all fields as text, plus _file/_line), streaming.

    Lines that are not JSON objects are counted and skipped here; field-level problems (missing
    fields, bad timestamps) are left to the SQL validation, which sees the same line numbers.

    Args:
        src: the JSON-lines file (read as UTF-8, bad bytes replaced; a leading BOM is noted).
        dst: the Parquet file to write (its folder is created).
        bad: the run's bad-row tally.
        batch: rows buffered per Parquet write.

    Returns:
        ``dst``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    dst.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c, pa.string()) for c in FIELDS] + [("_file", pa.string()), ("_line", pa.int64())])
    cols: dict[str, list] = {c: [] for c in schema.names}
    with open(src, encoding="utf-8", errors="replace") as f, pq.ParquetWriter(dst, schema) as w:
        for n, line in enumerate(f, 1):
            if n == 1 and line.startswith("\ufeff"):  # a byte-order mark: read past it, say so
                bad.note("byte-order mark on the first line (read past it)", src, n)
                line = line[1:]
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad.add("malformed JSON", src, n, line)
                continue
            except RecursionError:
                bad.add("JSON nested too deeply", src, n, line[:200])
                continue
            if not isinstance(rec, dict):
                bad.add("not a JSON object", src, n, line)
                continue
            try:
                row = [_text(rec.get(c)) for c in FIELDS]
                for v in row:
                    if v is not None:
                        v.encode("utf-8")  # a lone surrogate (\ud800) cannot be stored as text
            except (UnicodeEncodeError, RecursionError, ValueError):
                bad.add("invalid text (lone surrogate or unencodable value)", src, n, line[:200])
                continue
            for c, v in zip(FIELDS, row, strict=True):
                cols[c].append(v)
            cols["_file"].append(str(src))
            cols["_line"].append(n)
            if len(cols["_line"]) >= batch:
                w.write_table(pa.table(cols, schema=schema))
                cols = {c: [] for c in schema.names}
        w.write_table(pa.table(cols, schema=schema))
    return dst

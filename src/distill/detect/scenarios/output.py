"""Files of a simulation, each written atomically (a temporary file, then a rename)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from distill.files import atomic_text

LOG_SCHEMA_FIELDS = ("ts", "request_id", "account_id", "ip", "payment_id", "user_agent", "model", "system_prompt",
                     "prompt", "prompt_tokens", "completion_tokens")


def atomic_csv(path: Path, header: list[str], rows) -> None:
    """Write a CSV file atomically (``\\n`` line ends, csv-module quoting).

    Args:
        path: the file, replaced when it exists.
        header: the column names, the first line.
        rows: an iterable of row sequences, each in ``header``'s order.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_text(path, buf.getvalue())


def arrow_table(cols: dict):
    """The log records as an Arrow table with the log schema's columns and types.

    Args:
        cols: column name → values for every field of ``LOG_SCHEMA_FIELDS``, all of one length n: numpy
            arrays or lists; ``ts`` as ``datetime64``, the token counts as integers, the rest as strings.

    Returns:
        A ``pyarrow.Table`` of the ``LOG_SCHEMA_FIELDS`` in order: ``ts`` timestamp[us, UTC], the two token
        counts int64, every other column string.
    """
    import pyarrow as pa

    types = {"ts": pa.timestamp("us", tz="UTC"), "prompt_tokens": pa.int64(), "completion_tokens": pa.int64()}
    return pa.table({c: pa.array(cols[c].tolist() if c not in types and isinstance(cols[c], np.ndarray) else cols[c],
                                 type=types.get(c, pa.string())) for c in LOG_SCHEMA_FIELDS})


def write_parquet(path: Path, cols: dict) -> None:
    """Write log records as a zstd-compressed Parquet file, atomically.

    Args:
        path: the ``.parquet`` file, replaced when it exists.
        cols: column name → values for every field of ``LOG_SCHEMA_FIELDS``, all of one length n: numpy
            arrays or lists; ``ts`` as ``datetime64``, the token counts as integers, the rest as strings.
    """
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(arrow_table(cols), tmp, compression="zstd")
    os.replace(tmp, path)


def write_jsonl(path: Path, cols: dict) -> None:
    """Write log records as JSON lines, atomically: one object per record, fields in schema order.

    Args:
        path: the ``.jsonl`` file, replaced when it exists.
        cols: column name → values for every field of ``LOG_SCHEMA_FIELDS``, all of one length n: numpy
            arrays or lists; ``ts`` as ``datetime64``, the token counts as integers, the rest as strings.
            ``ts`` is written as ``"YYYY-MM-DDTHH:MM:SSZ"`` (whole seconds, UTC).
    """
    ts = np.datetime_as_string(cols["ts"].astype("datetime64[s]"), unit="s")
    names = [c for c in LOG_SCHEMA_FIELDS if c != "ts"]
    values = [cols[c].tolist() if isinstance(cols[c], np.ndarray) else cols[c] for c in names]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i, stamp in enumerate(ts.tolist()):
            rec = {"ts": stamp + "Z"} | {c: v[i] for c, v in zip(names, values, strict=True)}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def write_meta(path: Path, acc, rows: np.ndarray) -> None:
    """accounts_meta.parquet: account_id, signup_ts, payment_type, payment_bin, payment_country, email_domain, program.

    Args:
        path: the Parquet file, replaced atomically.
        acc: the scenario's :class:`~distill.detect.scenarios.accounts.Accounts` (``signup`` in seconds from
            the scenario's ``START``).
        rows: indices (or a mask) of the accounts to write, e.g. those that sent at least one record.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from distill.detect.scenarios.records import START

    signup = (START + np.round(acc.signup[rows]).astype("timedelta64[s]")).astype("datetime64[us]")
    table = pa.table({
        "account_id": pa.array(acc.ids[rows].tolist(), pa.string()),
        "signup_ts": pa.array(signup, pa.timestamp("us", tz="UTC")),
        **{c: pa.array(acc.cols[c][rows].tolist(), pa.string())
           for c in ("payment_type", "payment_bin", "payment_country", "email_domain", "program")},
    })
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)

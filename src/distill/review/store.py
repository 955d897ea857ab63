"""The review decisions, in SQLite beside the data set.

One row per item (``status`` approved | rejected | edited | pending, the edited fields, a ``version``
counter) and an append-only ``history`` of every change, which is what undo walks back. Each decision
is committed before the page answers (WAL, ``synchronous=FULL``), so a crash or restart loses nothing
and a fresh connection sees it at once. A save names the version it was made from; if the row moved on
in the meantime (another tab, another window) the save is refused with :class:`Conflict` instead of
silently overwriting the other decision.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from types import MappingProxyType

STATUSES = ("pending", "approved", "edited", "rejected")
EDITABLE = ("question", "reasoning", "answer")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    item_id TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'pending',
    edits TEXT NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 0,
    updated REAL
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    action TEXT NOT NULL,           -- 'decide' or 'undo'
    undoes INTEGER,                 -- for 'undo': the seq of the decision it reverted
    status_before TEXT NOT NULL, edits_before TEXT NOT NULL,
    status_after TEXT NOT NULL, edits_after TEXT NOT NULL,
    version_after INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Conflict(Exception):
    """The item changed since the page that sent this save was drawn.

    Args:
        item_id: the item's id.
        current: its decision now: {"status", "edits", "version"}.
    """

    def __init__(self, item_id: str, current: dict):
        self.item_id, self.current = item_id, current
        super().__init__(f"item {item_id} was changed elsewhere (now {current['status']}, "
                         f"version {current['version']}); reload it and decide again.")


class Store:
    """Review decisions in SQLite (WAL, one connection shared by the server's threads), with their history.

    Args:
        path: the database file (created with the schema if new).
        item_ids: ids to register as pending (already present ones are left alone); None: none.
    """
    def __init__(self, path: str | Path, item_ids: list[str] | None = None):
        self.path = Path(path)
        # one connection shared by the server's threads, serialised by a lock; autocommit mode so that each
        # write is its own explicit BEGIN IMMEDIATE … COMMIT
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._lock = threading.Lock()
        self._statuses: dict[str, str] | None = None  # cache of the status column, see statuses()
        self._data_version = None
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            if item_ids:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR IGNORE INTO decisions (item_id) VALUES (?)", [(i,) for i in item_ids])
                self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _row(row) -> dict:
        return {"status": row[0], "edits": json.loads(row[1]), "version": row[2]}

    def get(self, item_id: str) -> dict:
        """The item's decision.

        Args:
            item_id: the item's id.

        Returns:
            {"status", "edits", "version"}; a pending decision at version 0 for an unknown id.
        """
        with self._lock:
            row = self._db.execute("SELECT status, edits, version FROM decisions WHERE item_id = ?",
                                   (item_id,)).fetchone()
        return self._row(row) if row else {"status": "pending", "edits": {}, "version": 0}

    def all(self) -> dict[str, dict]:
        with self._lock:
            rows = self._db.execute("SELECT item_id, status, edits, version FROM decisions").fetchall()
        return {r[0]: self._row(r[1:]) for r in rows}

    def statuses(self) -> MappingProxyType:
        """item id → status, read-only. Cached: the page needs every status on each request (filters, progress)
        and a 50k-row read costs more than the rest of the page. Our own writes update the cache; a commit by
        another connection (a second server on the same file) changes ``PRAGMA data_version``, which reloads it."""
        with self._lock:
            dv = self._db.execute("PRAGMA data_version").fetchone()[0]
            if self._statuses is None or dv != self._data_version:
                self._statuses = dict(self._db.execute("SELECT item_id, status FROM decisions").fetchall())
                self._data_version = dv
            return MappingProxyType(self._statuses)

    def decide(self, item_id: str, status: str, version: int, edits: dict | None = None) -> int:
        """Set the item's decision if it is still at ``version``; returns the new version.

        Args:
            item_id: the item's id.
            status: one of ``STATUSES``.
            version: the version the deciding page showed.
            edits: edited fields (only ``EDITABLE`` ones) → new values; None: no edits.

        Returns:
            The new version (old + 1).

        Raises:
            ValueError: unknown status or edited field.
            Conflict: the item is no longer at ``version``.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {list(STATUSES)}, got {status!r}.")
        edits = {k: v for k, v in (edits or {}).items()}
        bad = sorted(set(edits) - set(EDITABLE))
        if bad:
            raise ValueError(f"only {list(EDITABLE)} can be edited, got {bad}.")
        with self._lock:
            return self._write(item_id, status, edits, version, "decide", None)

    def _write(self, item_id, status, edits, version, action, undoes) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT status, edits, version FROM decisions WHERE item_id = ?", (item_id,)).fetchone()
            if row is None:
                db.execute("INSERT INTO decisions (item_id) VALUES (?)", (item_id,))
                row = ("pending", "{}", 0)
            if version is not None and row[2] != version:
                raise Conflict(item_id, self._row(row))
            new_version = row[2] + 1
            now = time.time()
            db.execute("UPDATE decisions SET status = ?, edits = ?, version = ?, updated = ? WHERE item_id = ?",
                       (status, json.dumps(edits, ensure_ascii=False), new_version, now, item_id))
            db.execute("INSERT INTO history (item_id, action, undoes, status_before, edits_before, status_after, "
                       "edits_after, version_after, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (item_id, action, undoes, row[0], row[1], status, json.dumps(edits, ensure_ascii=False),
                        new_version, now))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if self._statuses is not None:
            self._statuses[item_id] = status
        return new_version

    def undo(self) -> str | None:
        """Revert the latest decision not yet undone (an undo is itself appended to the history, never a
        deletion); returns its item id, or None when there is nothing to undo. The item's version moves on,
        so a tab still showing the undone decision cannot save over the undo either."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, item_id, status_before, edits_before FROM history WHERE action = 'decide' AND "
                "seq NOT IN (SELECT undoes FROM history WHERE action = 'undo') ORDER BY seq DESC LIMIT 1").fetchone()
            if row is None:
                return None
            seq, item_id, status, edits = row
            self._write(item_id, status, json.loads(edits), None, "undo", seq)
            return item_id

    def set_meta(self, key: str, value) -> None:
        """Store a JSON-able value under ``key`` (replacing any earlier one).

        Args:
            key: the name, e.g. "sample".
            value: any JSON-able value.
        """
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def meta(self, key: str, default=None):
        """The value stored under ``key``.

        Args:
            key: the name.
            default: what to return when nothing is stored.

        Returns:
            The decoded value, or ``default``.
        """
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def history(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT seq, item_id, action, undoes, status_before, status_after, version_after "
                                    "FROM history ORDER BY seq").fetchall()
        keys = ("seq", "item_id", "action", "undoes", "status_before", "status_after", "version")
        return [dict(zip(keys, r, strict=True)) for r in rows]

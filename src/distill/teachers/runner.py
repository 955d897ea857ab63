"""Many teacher calls: bounded concurrency, results in request order, and a recorder that makes runs resumable.

:class:`RecordedTeacher` stores every answer in SQLite under the SHA-256 of its canonical request (model,
messages, generation settings), committed as soon as it arrives. Asking again returns the stored answer
without calling the backend, so a run killed at any moment — ``kill -9`` included — is resumed by running
it again: nothing answered is asked twice, nothing asked is lost (a call in flight at the kill had no
answer yet, so it is simply asked again).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from distill.progress import bar as progress_bar
from distill.teachers.base import Completion, Message, Teacher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatRequest:
    """One call: the messages and the generation settings of :meth:`Teacher.chat`."""

    messages: list[Message]
    max_tokens: int = 512
    temperature: float = 0.0
    seed: int | None = None
    top_logprobs: int | None = None

    def settings(self) -> dict:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed,
                "top_logprobs": self.top_logprobs}


def as_request(r) -> ChatRequest:
    """A :class:`ChatRequest`, a dict of its fields, or a bare list of messages.

    Args:
        r: the request, in one of those three forms.

    Returns:
        The request as a :class:`ChatRequest`.

    Raises:
        TypeError: ``r`` is none of the three.
    """
    if isinstance(r, ChatRequest):
        return r
    if isinstance(r, dict):
        return ChatRequest(**r)
    if isinstance(r, list):
        return ChatRequest(messages=r)
    raise TypeError(f"a request must be a ChatRequest, a dict or a list of messages, got {type(r).__name__}.")


async def teacher_name(teacher) -> str:
    """The model id, asking the endpoint first where the backend learns it lazily (HTTP without --teacher-model).

    Args:
        teacher: any teacher; one with ``resolve_model`` is asked for it.

    Returns:
        The model id.
    """
    resolve = getattr(teacher, "resolve_model", None)
    if resolve is not None:
        return await resolve()
    return teacher.name


def request_key(model: str, messages: list[Message], settings: dict) -> str:
    """SHA-256 of the canonical JSON of a request (sorted keys, no whitespace, UTF-8).

    Args:
        model: the model id.
        messages: the conversation.
        settings: the sampling settings (max_tokens, temperature, seed, top_logprobs).

    Returns:
        The key, 64 lowercase hex characters.
    """
    canon = json.dumps({"model": model, "messages": messages, **settings}, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


_FIELDS = {f.name for f in dataclasses.fields(Completion)}


class RecordedTeacher:
    """A teacher whose every answer is kept in SQLite and reused for a repeated request.

    Args:
        teacher: the backend that really answers.
        db_path: SQLite file (created with its folder); WAL mode, one commit per answer.

    ``hits`` / ``misses`` count answers from the store and from the backend in this process.
    """

    def __init__(self, teacher: Teacher, db_path: str | Path):
        self.teacher = teacher
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process (not power loss)
        self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, request TEXT NOT NULL, "
                         "response TEXT NOT NULL, created REAL NOT NULL)")
        self._lock = threading.Lock()
        self._inflight: dict[str, asyncio.Future] = {}
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.teacher.name

    def __repr__(self) -> str:
        return f"RecordedTeacher({self.teacher!r}, db_path={str(self.db_path)!r})"

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data = {k: v for k, v in json.loads(row[0]).items() if k in _FIELDS}
        return Completion(**(data | {"cached": True}))

    def _put(self, key: str, request: dict, comp: Completion) -> None:
        resp = json.dumps(dataclasses.asdict(comp) | {"cached": False}, ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)",
                             (key, json.dumps(request, ensure_ascii=False), resp, time.time()))

    async def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
                   seed: int | None = None, top_logprobs: int | None = None) -> Completion:
        # normalized types: temperature=0 and temperature=0.0 are the same request
        """The stored answer to this request if there is one, else the backend's (then stored).

        Args:
            messages: the conversation, OpenAI-style ``{"role", "content"}`` dicts.
            max_tokens: most tokens to generate.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the sampling (None: unseeded).
            top_logprobs: if set, also return the k most likely tokens and their log-probs per generated token.

        Returns:
            The answer; ``cached`` is True when it came from the store or from an identical request in flight.
        """
        settings = {"max_tokens": int(max_tokens), "temperature": float(temperature),
                    "seed": None if seed is None else int(seed),
                    "top_logprobs": None if top_logprobs is None else int(top_logprobs)}
        model = await teacher_name(self.teacher)
        key = request_key(model, messages, settings)
        while True:
            found = self._get(key)
            if found is not None:
                self.hits += 1
                return found
            shared = self._inflight.get(key)
            if shared is None:
                break
            try:  # the same request is already being asked: share its answer (or its error)
                comp = await asyncio.shield(shared)
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # we are being cancelled
                continue  # the call we waited on was cancelled, not us: look again, ask ourselves
            self.hits += 1
            return dataclasses.replace(comp, cached=True)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            comp = await self.teacher.chat(messages, **settings)
            self._put(key, {"model": model, "messages": messages, **settings}, comp)
            self.misses += 1
            fut.set_result(comp)
            return comp
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            del self._inflight[key]


async def arun_chats(teacher: Teacher, requests: Iterable, *, concurrency: int = 8, progress: bool = True,
                     errors: str = "raise", desc: str = "teacher") -> list[Completion | BaseException]:
    """Ask ``teacher`` every request with at most ``concurrency`` in flight; answers in request order.

    Args:
        teacher: the teacher to ask.
        requests: :class:`ChatRequest`, dicts of its fields, or lists of messages.
        concurrency: most requests in flight at once, ≥ 1.
        progress: show a progress bar.
        errors: "raise" (the first failure cancels the rest and is raised) or "return" (a failed request's
            slot holds its exception; the others complete).
        desc: the progress bar's label.

    Returns:
        One answer per request, in request order (with ``errors="return"``, exceptions in failed slots).

    Raises:
        ValueError: ``concurrency`` < 1 or an unknown ``errors``.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be ≥ 1, got {concurrency!r}.")
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}.")
    reqs = [as_request(r) for r in requests]
    results: list = [None] * len(reqs)
    todo = iter(range(len(reqs)))
    bar = progress_bar(total=len(reqs), desc=desc, unit="call", show=progress)

    async def worker():
        for i in todo:  # one shared iterator: each index goes to exactly one worker
            r = reqs[i]
            try:
                results[i] = await teacher.chat(r.messages, **r.settings())
            except Exception as e:
                if errors == "raise":
                    raise
                results[i] = e
                log.warning("request %d failed: %s", i, e)
            bar.update(1)

    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(min(concurrency, len(reqs))):
                tg.create_task(worker())
    except* Exception as eg:
        raise eg.exceptions[0] from None
    finally:
        bar.close()
    return results


def run_chats(teacher: Teacher, requests: Iterable, *, concurrency: int = 8, progress: bool = True,
              errors: str = "raise", desc: str = "teacher") -> list[Completion | BaseException]:
    """Synchronous :func:`arun_chats` (runs its own event loop; from async code, await ``arun_chats``).

    Args:
        teacher: the teacher to ask; its HTTP client (if any) is closed afterwards.
        requests: :class:`ChatRequest`, dicts of its fields, or lists of messages.
        concurrency: most requests in flight at once, ≥ 1.
        progress: show a progress bar.
        errors: "raise" or "return", as in :func:`arun_chats`.
        desc: the progress bar's label.

    Returns:
        One answer per request, in request order.

    Raises:
        RuntimeError: called inside a running event loop.
        ValueError: ``concurrency`` < 1 or an unknown ``errors``.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run_and_close(teacher, requests, concurrency, progress, errors, desc))
    raise RuntimeError("run_chats was called inside a running event loop; use `await arun_chats(...)` there.")


async def _run_and_close(teacher, requests, concurrency, progress, errors, desc):
    try:
        return await arun_chats(teacher, requests, concurrency=concurrency, progress=progress, errors=errors,
                                desc=desc)
    finally:  # the HTTP client belongs to this loop, which is about to close
        inner = getattr(teacher, "teacher", teacher)
        if hasattr(inner, "aclose"):
            await inner.aclose()

"""An OpenAI-compatible chat-completions endpoint as a teacher (vLLM, llama.cpp server, `distill serve`, hosted APIs).

Robustness is the point of this module: a long generation run makes tens of thousands of calls, and a
teacher that now and then answers 429, 502, an HTML error page, half a JSON body or nothing at all
must cost a retry, not the run. Every retry is counted by reason in :class:`TeacherStats`.

The API key is read from an environment variable whose *name* the user gives; the value lives only
in the request header — never in ``repr``, logs, errors or files.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from distill.teachers.base import Completion, Message

log = logging.getLogger(__name__)

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}  # transient by RFC or by common practice


class TeacherError(RuntimeError):
    """A teacher call that failed for good (a refused request, or every attempt used up)."""


@dataclass
class TeacherStats:
    """Counters of one teacher's calls. ``retries`` maps a reason ("429", "5xx", "timeout", "connect",
    "bad_body") to how many attempts were retried for it."""

    requests: int = 0  # calls made by the caller (not attempts)
    attempts: int = 0  # HTTP requests sent, retries included
    succeeded: int = 0
    failures: int = 0  # calls that raised after all attempts or a non-retryable answer
    retries: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # summed latency of successful calls

    def as_dict(self) -> dict:
        return {"requests": self.requests, "attempts": self.attempts, "succeeded": self.succeeded,
                "failures": self.failures, "retries": dict(self.retries), "retried": sum(self.retries.values()),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "seconds": round(self.seconds, 3)}


POOL_SIZE = 8  # connections per httpx pool (see HTTPTeacher._http)


@dataclass
class _Shard:
    client: object
    busy: int = 0


class _Retry(Exception):
    def __init__(self, reason: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.retry_after = reason, detail, retry_after


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date; None if absent/bad.

    Args:
        value: the header's value, or None.
        now: the current Unix time for an HTTP date (None: ``time.time()``).

    Returns:
        Seconds to wait, ≥ 0, or None.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (uniform in [0, min(cap, base·2^attempt)]), attempt counted from 0.

    Args:
        attempt: the failed attempt's number, from 0.
        base: the bound for attempt 0, in seconds.
        cap: the largest bound, in seconds.
        rng: source of the jitter.

    Returns:
        Seconds to wait.
    """
    return rng.uniform(0.0, min(cap, base * (2.0 ** attempt)))


def parse_chat_response(data: dict, model: str, latency: float) -> Completion:
    """An OpenAI chat-completion JSON body → :class:`Completion`; KeyError/TypeError/IndexError if malformed.

    Args:
        data: the decoded JSON body.
        model: the model id to report when the body names none.
        latency: seconds the call took.

    Returns:
        The completion, with per-token log-probabilities when the body has them.
    """
    choice = data["choices"][0]
    text = choice["message"]["content"] or ""
    if not isinstance(text, str):
        raise TypeError("message.content is not a string")
    usage = data.get("usage") or {}
    tokens = token_logprobs = top = None
    content = (choice.get("logprobs") or {}).get("content")
    if content:
        tokens = [c["token"] for c in content]
        token_logprobs = [float(c["logprob"]) for c in content]
        top = [{t["token"]: float(t["logprob"]) for t in c.get("top_logprobs") or []} for c in content]
    return Completion(
        text=text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0), model=data.get("model") or model,
        finish_reason=choice.get("finish_reason"), top_logprobs=top, latency_s=latency,
        tokens=tokens, token_logprobs=token_logprobs, extra={"id": data.get("id")},
    )


class HTTPTeacher:
    """A teacher behind an OpenAI-compatible ``/v1/chat/completions``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000`` or ``https://api.example.com/v1`` (``/v1`` is added if missing).
        model: model id to ask for; empty → the first id listed by ``/v1/models`` (asked once, lazily).
        api_key_env: NAME of the environment variable holding the API key (empty: no key sent).
        timeout: seconds per attempt (connect + read).
        max_retries: retries after the first attempt; then the call raises :class:`TeacherError`.
        backoff_base: first backoff bound in seconds; attempt a waits uniform in [0, min(cap, base·2^a)].
        backoff_cap: largest backoff bound, in seconds.
        max_retry_after: cap in seconds on a server's ``Retry-After`` wait.
        max_connections: connection-pool size (keep ≥ the caller's concurrency).
        jitter_seed: seed of the backoff jitter (None: unseeded); for reproducible tests.

    Raises:
        ValueError: ``base_url`` is not http(s), ``timeout`` ≤ 0, ``max_retries`` < 0, or
            ``api_key_env`` names an unset variable.
    """

    def __init__(self, base_url: str, *, model: str = "", api_key_env: str = "", timeout: float = 60.0,
                 max_retries: int = 5, backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 max_retry_after: float = 300.0, max_connections: int = 256, jitter_seed: int | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}.")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}.")
        if max_retries < 0:
            raise ValueError(f"max_retries must be ≥ 0, got {max_retries!r}.")
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self._model = model
        self.api_key_env = api_key_env
        if api_key_env and not os.environ.get(api_key_env):
            raise ValueError(f"api_key_env names the environment variable {api_key_env!r}, which is not set; "
                             f"export it (or leave --api-key-env empty for an endpoint without a key).")
        self.timeout, self.max_retries = timeout, max_retries
        self.backoff_base, self.backoff_cap, self.max_retry_after = backoff_base, backoff_cap, max_retry_after
        self.max_connections = max_connections
        self.stats = TeacherStats()
        self._rng = random.Random(jitter_seed)  # backoff jitter only (reproducible in tests)
        self._shards: list[_Shard] = []
        self._ssl = None
        self._client_loop = None
        self._model_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:  # never the key, only the variable's name
        return (f"HTTPTeacher(base_url={self.base_url!r}, model={self._model!r}, api_key_env={self.api_key_env!r}, "
                f"timeout={self.timeout}, max_retries={self.max_retries})")

    @property
    def name(self) -> str:
        """The model id ('' until :meth:`resolve_model` asked the endpoint, when none was given)."""
        return self._model

    def _scrub(self, text: str) -> str:
        """``text`` with the API key masked (an endpoint may echo the header back in its error page)."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return text.replace(key, "***") if key else text

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.api_key_env:
            h["Authorization"] = "Bearer " + os.environ.get(self.api_key_env, "")
        return h

    def _http(self) -> _Shard:
        """The least busy of a few small connection pools, created as needed.

        One httpx pool re-examines every connection (a poll syscall each) whenever a request starts or
        ends, which costs ~O(connections) per request: at 32 in flight that was most of the client's CPU.
        Pools of :data:`POOL_SIZE` connections keep that cost flat. Pools are bound to the event loop
        they first ran on (``asyncio.run`` in each sync call makes a new loop), so a new loop gets new pools.
        """
        loop = asyncio.get_running_loop()
        if self._client_loop is not loop:
            self._shards, self._client_loop = [], loop
            self._model_lock = asyncio.Lock()
        best = min(self._shards, key=lambda sh: sh.busy, default=None)
        if best is None or (best.busy >= POOL_SIZE and len(self._shards) * POOL_SIZE < self.max_connections):
            best = _Shard(self._new_client())
            self._shards.append(best)
        return best

    def _new_client(self):
        import httpx

        if self._ssl is None:  # built once: loading the CA bundle costs ~0.1 s per client otherwise
            import ssl

            import certifi

            self._ssl = ssl.create_default_context(cafile=certifi.where())
        return httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), headers=self._headers(), verify=self._ssl,
                                 limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE))

    async def aclose(self) -> None:
        shards, self._shards, self._client_loop = self._shards, [], None
        for sh in shards:
            await sh.client.aclose()

    async def _attempts(self, method: str, path: str, body: dict | None, parse):
        """Send until ``parse(json)`` succeeds, retrying transient failures; return ``(parsed, latency)``."""
        import httpx

        last = ""
        for attempt in range(self.max_retries + 1):
            self.stats.attempts += 1
            t0 = time.perf_counter()
            shard = self._http()
            try:
                try:
                    shard.busy += 1
                    try:
                        r = await shard.client.request(method, self.base_url + path, json=body)
                    finally:
                        shard.busy -= 1
                except httpx.TimeoutException as e:
                    raise _Retry("timeout", f"no answer within {self.timeout} s ({type(e).__name__})") from None
                except (httpx.TransportError, OSError) as e:  # refused, reset, DNS, protocol errors
                    raise _Retry("connect", f"{type(e).__name__}: {e}") from None
                if r.status_code in RETRY_STATUSES:
                    reason = "429" if r.status_code == 429 else ("5xx" if r.status_code >= 500 else str(r.status_code))
                    raise _Retry(reason, f"HTTP {r.status_code}: {_snippet(r.text)}",
                                 parse_retry_after(r.headers.get("retry-after")))
                if r.status_code >= 400:
                    self.stats.failures += 1
                    hint = (f" (is the key in ${self.api_key_env} right?)" if r.status_code in (401, 403)
                            and self.api_key_env else "")
                    raise TeacherError(self._scrub(f"{self.base_url}{path} refused the request: HTTP {r.status_code}: "
                                                   f"{_snippet(r.text)}{hint}"))
                try:
                    return parse(r.json()), time.perf_counter() - t0
                except (ValueError, KeyError, TypeError, IndexError) as e:  # non-JSON, truncated, wrong shape
                    raise _Retry("bad_body", f"unusable body ({type(e).__name__}): {_snippet(r.text)}") from None
            except _Retry as e:
                last = self._scrub(f"{e.reason}: {e.detail}")
                if attempt == self.max_retries:
                    break
                self.stats.retries[e.reason] += 1
                delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rng)
                if e.retry_after is not None:
                    delay = min(max(delay, e.retry_after), self.max_retry_after)
                log.info("%s%s attempt %d failed (%s); retrying in %.2f s", self.base_url, path, attempt + 1, last, delay)
                await asyncio.sleep(delay)
        self.stats.failures += 1
        raise TeacherError(f"{self.base_url}{path} failed {self.max_retries + 1} times; last: {last}")

    async def resolve_model(self) -> str:
        """The model id: the one given, else the first id ``/v1/models`` lists (asked once)."""
        if self._model:
            return self._model
        self._http()
        async with self._model_lock:
            if not self._model:
                def first_id(data):
                    ids = [m["id"] for m in data["data"]]
                    if not ids:
                        raise TeacherError(f"{self.base_url}/models lists no model; give one with --teacher-model.")
                    return ids[0]

                self._model, _ = await self._attempts("GET", "/models", None, first_id)
                log.info("teacher model: %s (first listed by %s/models)", self._model, self.base_url)
        return self._model

    async def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
                   seed: int | None = None, top_logprobs: int | None = None) -> Completion:
        """Answer one chat conversation through ``POST /chat/completions``, retrying as configured.

        Args:
            messages: the conversation, OpenAI-style ``{"role", "content"}`` dicts.
            max_tokens: most tokens to generate.
            temperature: sampling temperature; 0 is greedy.
            seed: seed of the sampling (None: unseeded).
            top_logprobs: if set, also return the k most likely tokens and their log-probs per generated token.

        Returns:
            The answer, with token counts and its latency in seconds.

        Raises:
            TeacherError: the endpoint refused the request, or every attempt failed.
        """
        self.stats.requests += 1
        model = await self.resolve_model()
        body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}
        if seed is not None:
            body["seed"] = seed
        if top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = top_logprobs
        comp, latency = await self._attempts("POST", "/chat/completions", body,
                                             lambda d: parse_chat_response(d, model, 0.0))
        comp.latency_s = latency
        self.stats.succeeded += 1
        self.stats.prompt_tokens += comp.prompt_tokens
        self.stats.completion_tokens += comp.completion_tokens
        self.stats.seconds += latency
        return comp


def _snippet(text: str, n: int = 200) -> str:
    text = " ".join((text or "").split())
    return json.dumps(text[:n] + ("…" if len(text) > n else ""), ensure_ascii=False)

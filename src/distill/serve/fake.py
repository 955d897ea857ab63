"""A fake OpenAI-compatible endpoint with a fixed latency and a fixed capacity, for tests and benchmarks.

It is not a model: each chat request is answered ``"echo: <last user message>"`` after ``latency``
seconds, with at most ``capacity`` requests being served at once (the rest wait their turn), so its
throughput ceiling is ``capacity / latency`` requests per second — the yardstick the client benchmark
measures against. It can also misbehave on purpose (``faults``), counts what it received and answered
(per request, server-side), and can hold requests back (``stall``) so a test can kill a client while
calls are in flight.

It is a raw asyncio HTTP/1.1 server (keep-alive, Content-Length bodies) running on its own thread and
event loop, so it costs the client under test very little CPU.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import socket
import threading
import time
from collections import Counter

FAULTS = ("garbage", "truncated", "html", "html502", "429", "429date", "500", "sleep", "close", "401")


def answer_text(messages: list[dict]) -> str:
    """What the fake teacher says: deterministic, so a test knows the right answer.

    Args:
        messages: the chat messages.

    Returns:
        "echo: " followed by the last user message's content ("" without one).
    """
    user = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return "echo: " + (user[-1] if user else "")


class FakeEndpoint:
    """Start with ``with FakeEndpoint(...) as ep:`` (or ``start()``/``stop()``); ``ep.url`` is its base URL.

    Args:
        latency: seconds each chat request takes once it is being served.
        capacity: requests served at once (None: unbounded); capacity / latency = requests/s ceiling.
        faults: misbehaviours for the first chat requests, in arrival order (one of :data:`FAULTS` each;
            ``None`` in the list = answer normally).
        fault_sleep: how long a "sleep" fault sleeps (set it past the client's timeout).
        retry_after: the Retry-After seconds sent with "429".
        model: the model id listed at /v1/models.
        api_key: if set, requests must carry ``Authorization: Bearer <api_key>``.
    """

    def __init__(self, latency: float = 0.0, capacity: int | None = None, faults: list[str | None] | None = None,
                 fault_sleep: float = 5.0, retry_after: float = 0.2, model: str = "fake-teacher",
                 api_key: str | None = None):
        bad = [f for f in faults or [] if f is not None and f not in FAULTS]
        if bad:
            raise ValueError(f"unknown fault(s) {bad}; known: {list(FAULTS)}.")
        self.latency, self.capacity = latency, capacity
        self.faults = list(faults or [])
        self.fault_sleep, self.retry_after, self.model, self.api_key = fault_sleep, retry_after, model, api_key
        self.received = 0  # chat requests received (faulty ones included)
        self.answered = 0  # chat requests answered correctly, to a client still connected
        self.by_key: Counter = Counter()  # answered per request body hash
        self.faults_served: Counter = Counter()
        self.max_in_flight = 0
        self._in_flight = 0
        self._stall_after: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle ----
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeEndpoint:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._sem = asyncio.Semaphore(self.capacity) if self.capacity else None
            self._released = asyncio.Event()
            self._released.set()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, sock=sock, backlog=1024))
            ready.set()
            self._loop.run_forever()
            self._server.close()
            pending = asyncio.all_tasks(self._loop)  # connections still open: end them before the loop closes
            for t in pending:
                t.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="fake-endpoint")
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> FakeEndpoint:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stall(self, after: int) -> None:
        """Hold every chat request once ``after`` have been answered, until :meth:`release`.

        Args:
            after: answered requests after which new ones are held.
        """
        self._stall_after = after

    def release(self) -> None:
        self._stall_after = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._released.set)

    def reset_counts(self) -> None:
        self.received = self.answered = 0
        self.by_key.clear()
        self.faults_served.clear()

    # ---- HTTP ----
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                arrived = time.perf_counter()
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", 0) or 0))
                keep = await self._route(method, path, headers, body, reader, writer, arrived)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _send(self, writer, status: int, body: bytes, ctype: str = "application/json",
                    extra: dict | None = None) -> bool:
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
                  500: "Internal Server Error", 502: "Bad Gateway"}.get(status, "Status")
        hdr = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {ctype}", f"Content-Length: {len(body)}",
               "Connection: keep-alive"] + [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(hdr) + "\r\n\r\n").encode() + body)
        await writer.drain()
        return True

    async def _route(self, method, path, headers, body, reader, writer, arrived: float) -> bool:
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            # echoes the header it got, as careless servers do: the client must not repeat it in its errors
            msg = f"bad key: {headers.get('authorization')}"
            return await self._send(writer, 401, json.dumps({"error": {"message": msg, "type": "auth"}}).encode())
        if method == "GET" and path.rstrip("/") == "/v1/models":
            data = {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "fake"}]}
            return await self._send(writer, 200, json.dumps(data).encode())
        if method != "POST" or path.rstrip("/") != "/v1/chat/completions":
            return await self._send(writer, 404, b'{"error": {"message": "not found"}}')
        self.received += 1
        fault = self.faults.pop(0) if self.faults else None
        if fault:
            self.faults_served[fault] += 1
            return await self._fault(fault, writer)
        req = json.loads(body)
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            # latency counts from the request's arrival (not from when this loop got to it), or, for a request
            # that had to wait for a free slot, from when it got one
            if self._sem is not None:
                full = self._sem.locked()
                async with self._sem:
                    start = time.perf_counter() if full else arrived
                    await asyncio.sleep(max(0.0, self.latency - (time.perf_counter() - start)))
            else:
                await asyncio.sleep(max(0.0, self.latency - (time.perf_counter() - arrived)))
            while self._stall_after is not None and self.answered >= self._stall_after:
                self._released.clear()
                await self._released.wait()
        finally:
            self._in_flight -= 1
        if reader.at_eof() or reader.exception() is not None:  # the client went away (killed) while we worked: nobody gets this answer
            return False
        self.answered += 1
        self.by_key[hashlib.sha256(body).hexdigest()] += 1
        return await self._send(writer, 200, json.dumps(self._completion(req)).encode())

    def _completion(self, req: dict) -> dict:
        text = answer_text(req.get("messages", []))
        words = text.split(" ")
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        if req.get("logprobs"):
            k = int(req.get("top_logprobs") or 0)
            choice["logprobs"] = {"content": [
                {"token": w, "logprob": -0.1, "top_logprobs": [{"token": w, "logprob": -0.1}]
                 + [{"token": f"alt{j}", "logprob": -2.0 - j} for j in range(max(0, k - 1))]} for w in words]}
        prompt = sum(len(str(m.get("content", "")).split()) for m in req.get("messages", []))
        return {"id": f"fake-{self.received}", "object": "chat.completion", "created": int(time.time()),
                "model": req.get("model") or self.model, "choices": [choice],
                "usage": {"prompt_tokens": prompt, "completion_tokens": len(words),
                          "total_tokens": prompt + len(words)}}

    async def _fault(self, fault: str, writer) -> bool:
        if fault == "garbage":
            return await self._send(writer, 200, b"\x00\xffthis is not json{{", "application/json")
        if fault == "truncated":
            full = json.dumps(self._completion({"messages": [{"role": "user", "content": "x"}]})).encode()
            return await self._send(writer, 200, full[: len(full) // 2])
        if fault == "html":
            return await self._send(writer, 200, b"<html><body><h1>Service Unavailable</h1></body></html>", "text/html")
        if fault == "html502":
            return await self._send(writer, 502, b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
                                    "text/html")
        if fault == "429":
            return await self._send(writer, 429, b'{"error": {"message": "rate limited"}}',
                                    extra={"Retry-After": f"{self.retry_after:g}"})
        if fault == "429date":
            when = email.utils.formatdate(time.time() + self.retry_after, usegmt=True)
            return await self._send(writer, 429, b'{"error": {"message": "rate limited"}}', extra={"Retry-After": when})
        if fault == "500":
            return await self._send(writer, 500, b'{"error": {"message": "internal error"}}')
        if fault == "401":
            return await self._send(writer, 401, b'{"error": {"message": "invalid api key"}}')
        if fault == "sleep":
            await asyncio.sleep(self.fault_sleep)
            return False
        return False  # "close": hang up without a word


def main(argv: list[str] | None = None) -> None:
    """``python -m distill.serve.fake --latency 0.5 --capacity 32``: serve until killed; prints ``PORT <n>``.

    Args:
        argv: the command-line arguments (None: ``sys.argv[1:]``).
    """
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--capacity", type=int, default=32)
    args = ap.parse_args(argv)
    ep = FakeEndpoint(latency=args.latency, capacity=args.capacity).start()
    print(f"PORT {ep.port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

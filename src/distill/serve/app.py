"""The OpenAI-compatible app behind `distill serve`: /v1/models, /v1/chat/completions, /v1/completions.

One model, one sequence at a time (the engine's lock): a transformers :class:`~distill.teachers.hf.HFEngine`
or, for a .gguf file, a llama.cpp :class:`~distill.teachers.llamacpp.LlamaCppEngine` (same interface, same
answers' JSON); prompts are templated and tokenized, and tokens produced, in
worker threads (request bodies and prompts are size-checked first), and tokens are handed
to the event loop one by one, so streaming is real and other connections stay responsive. Stop strings
are handled on the text: a streamed chunk never shows a prefix of a stop string that later completes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
import uuid
from contextlib import aclosing
from dataclasses import dataclass
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from distill.serve.protocol import APIError, ChatCompletionRequest, CompletionRequest
from distill.teachers.hf import HFEngine, Step, find_stop

log = logging.getLogger(__name__)
_END = object()


async def engine_steps(engine: HFEngine, prompt_ids: list[int], *, max_tokens: int, temperature: float,
                       seed: int | None, top_logprobs: int | None) -> AsyncIterator[Step]:
    """The engine's tokens, produced in a worker thread under its lock, delivered as they come.

    Leaving the loop early (a stop string, a client that hung up) tells the thread to stop at the next token.

    Args:
        engine: the loaded engine.
        prompt_ids: the prompt's token ids, non-empty.
        max_tokens: most tokens to generate.
        temperature: sampling temperature; 0 is greedy.
        seed: seed of the per-request generator (None: a fresh random seed).
        top_logprobs: if set, each step carries the k most likely tokens and their log-probs.

    Yields:
        One :class:`~distill.teachers.hf.Step` per generated token; an exception in the thread is
        raised here.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    cancel = threading.Event()

    def put(item):
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone (server shutting down)
            cancel.set()

    def work():
        try:
            with engine.lock:
                for step in engine.steps(prompt_ids, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                         top_logprobs=top_logprobs):
                    if cancel.is_set():
                        break
                    put(step)
        except Exception as e:  # surfaced to the request as a 500
            put(e)
        finally:
            put(_END)

    loop.run_in_executor(None, work)
    try:
        while (item := await queue.get()) is not _END:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        cancel.set()


class StopText:
    """Accumulates token deltas; ``add`` returns the text that is safe to show now (cut at a stop string,
    holding back any tail that could still become one).

    Args:
        stop: the stop strings (may be empty).
    """

    def __init__(self, stop: list[str]):
        self.stop, self.text, self.sent, self.stopped = stop, "", 0, False

    def add(self, delta: str) -> str:
        """Take the next token's text; return what may be sent now.

        Args:
            delta: the text the token adds.

        Returns:
            The new safe text (possibly ""); after a stop string, the rest up to it, and ``stopped`` is set.
        """
        self.text += delta
        cut = find_stop(self.text, self.stop)
        if cut is not None:
            self.text, self.stopped = self.text[:cut], True
            return self.flush()
        hold = next((k for k in range(min(len(self.text), max((len(s) for s in self.stop), default=1) - 1), 0, -1)
                     if any(s.startswith(self.text[-k:]) for s in self.stop)), 0)
        end = len(self.text) - hold
        out = self.text[self.sent:end] if end > self.sent else ""
        self.sent = max(self.sent, end)
        return out

    def flush(self) -> str:
        out, self.sent = self.text[self.sent:], len(self.text)
        return out


def _lp_entry(step: Step, k: int) -> dict:
    """A chat ``logprobs.content`` item (OpenAI format)."""
    top = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in (step.top or {}).items()][:k]
    return {"token": step.token, "logprob": step.logprob, "bytes": list(step.token.encode()), "top_logprobs": top}


def _sse(obj) -> bytes:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()


MAX_BODY_BYTES = 4 << 20  # default request body limit (413 beyond it)
CHARS_PER_TOKEN = 16  # a prompt longer than this many characters per allowed token is refused before tokenizing


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 without reading the rest, whether it
    declares its length (Content-Length) or not (chunked).

    Args:
        app: the ASGI app to wrap.
        limit: largest body accepted, in bytes.
    """

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.strip().isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        seen, started, refused = 0, False, False

        async def limited_receive():
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not started:  # answer now; the app sees a client that went away
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return  # the 413 is the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send):
        body = json.dumps(APIError(413, f"the request body is larger than this server's limit of {self.limit:,} "
                                        "bytes (distill serve --max-body-bytes)", code="request_too_large",
                                   param=None).body()).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def create_app(engine: HFEngine, served_name: str, *, api_key: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, max_prompt_tokens: int | None = None) -> FastAPI:
    """The FastAPI app serving ``engine`` under the model id ``served_name`` (bearer ``api_key`` if given).

    Request bodies over ``max_body_bytes`` are answered 413; prompts over ``max_prompt_tokens`` (default: the
    model's context) 400, those over ``CHARS_PER_TOKEN`` characters per allowed token before any tokenizing.
    Templating, tokenizing and generating run in worker threads, so a large request never stalls the others.

    Args:
        engine: the loaded engine (:class:`~distill.teachers.hf.HFEngine`, or
            :class:`~distill.teachers.llamacpp.LlamaCppEngine` for a .gguf).
        served_name: the model id clients ask for (and ``/v1/models`` lists).
        api_key: the bearer key every ``/v1`` request must carry; None: no key.
        max_body_bytes: largest request body, in bytes.
        max_prompt_tokens: largest prompt, in tokens; None: the model's context.

    Returns:
        The FastAPI app.
    """
    app = FastAPI(title="distill serve", docs_url=None, redoc_url=None, openapi_url=None)
    created = int(time.time())
    prompt_limit = max_prompt_tokens or engine.max_context

    async def prompt_ids_of(texts: list[str], param: str, tokenize, *args) -> list[int]:
        if prompt_limit:
            chars = sum(len(t) for t in texts)
            if chars > prompt_limit * CHARS_PER_TOKEN:
                raise APIError(400, f"the prompt has {chars:,} characters, more than {CHARS_PER_TOKEN} per token of "
                                    f"this server's prompt limit of {prompt_limit:,} tokens; send less text",
                               param=param, code="context_length_exceeded")
        ids = await asyncio.to_thread(tokenize, *args)
        if prompt_limit and len(ids) > prompt_limit:
            raise APIError(400, f"the prompt has {len(ids):,} tokens, more than this server's prompt limit of "
                                f"{prompt_limit:,} tokens; send less text", param=param, code="context_length_exceeded")
        return ids

    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError):
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        errs = e.errors()
        first = errs[0] if errs else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        msg = "; ".join(f"{'.'.join(str(p) for p in er.get('loc', ())[1:]) or 'body'}: {er.get('msg')}" for er in errs)
        return JSONResponse(APIError(400, msg or "invalid request", param=param).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        return JSONResponse(APIError(e.status_code, str(e.detail), type="not_found_error" if e.status_code == 404
                                     else "invalid_request_error").body(), status_code=e.status_code)

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if api_key is not None and request.url.path.startswith("/v1"):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return JSONResponse(APIError(401, "invalid or missing API key (Authorization: Bearer …)",
                                             type="authentication_error", code="invalid_api_key").body(),
                                    status_code=401)
        return await call_next(request)

    def check_model(model: str) -> None:
        if model != served_name:
            raise APIError(404, f"The model {model!r} does not exist; this server serves {served_name!r}.",
                           param="model", code="model_not_found")

    def budget(prompt_ids: list[int], max_tokens: int | None, param: str) -> int:
        if not prompt_ids:
            raise APIError(400, "the prompt is empty (it tokenizes to no tokens): send some text to continue",
                           param=param)
        try:
            return engine.budget(len(prompt_ids), max_tokens or 512)
        except ValueError as e:
            raise APIError(400, str(e), param=param, code="context_length_exceeded") from None

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": served_name, "object": "model", "created": created,
                                            "owned_by": "distill"}]}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatCompletionRequest):
        check_model(req.model)
        messages = [m.plain() for m in req.messages]
        prompt_ids = await prompt_ids_of([m["content"] for m in messages], "messages", engine.chat_prompt_ids, messages)
        max_tokens = budget(prompt_ids, req.max_completion_tokens or req.max_tokens, "messages")
        k = (req.top_logprobs or 0) if req.logprobs else None
        steps = engine_steps(engine, prompt_ids, max_tokens=max_tokens, temperature=req.temperature, seed=req.seed,
                             top_logprobs=k or None)
        rid, now = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        head = {"id": rid, "created": now, "model": served_name, "system_fingerprint": "distill"}
        if req.stream:
            return StreamingResponse(_chat_stream(steps, req, k, head, len(prompt_ids), max_tokens),
                                     media_type="text/event-stream")
        text, lps, n, finish = await _collect(steps, req.stop, k, max_tokens)
        return head | {"object": "chat.completion", "choices": [{
            "index": 0, "message": {"role": "assistant", "content": text},
            "logprobs": {"content": lps} if k is not None else None, "finish_reason": finish}],
            "usage": _usage(len(prompt_ids), n)}

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest):
        check_model(req.model)
        prompt_ids = await prompt_ids_of([req.prompt], "prompt", engine.text_prompt_ids, req.prompt)
        max_tokens = budget(prompt_ids, req.max_tokens, "prompt")
        k = req.logprobs
        steps = engine_steps(engine, prompt_ids, max_tokens=max_tokens, temperature=req.temperature, seed=req.seed,
                             top_logprobs=k or None)
        head = {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": served_name}
        if req.stream:
            return StreamingResponse(_completion_stream(steps, req, k, head, len(prompt_ids), max_tokens),
                                     media_type="text/event-stream")
        text, lps, n, finish = await _collect(steps, req.stop, k, max_tokens)
        return head | {"object": "text_completion", "choices": [{
            "index": 0, "text": text, "logprobs": _legacy_logprobs(lps) if k is not None else None,
            "finish_reason": finish}], "usage": _usage(len(prompt_ids), n)}

    app.add_middleware(BodyLimit, limit=max_body_bytes)  # outermost: before the key check and any parsing
    app.state.engine, app.state.served_name = engine, served_name
    return app


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@dataclass
class _Tally:
    tokens: int = 0
    finish: str = "stop"


async def _pieces(steps, stop, k, max_tokens, tally: _Tally):
    """Yield ``(text, logprob entries)`` as soon as the text is safe to show (see :class:`StopText`);
    ``tally`` holds the token count and finish reason once the generator is exhausted."""
    out, pending = StopText(stop or []), []
    async with aclosing(steps):  # leaving early (a stop string, a client that hung up) stops the worker thread
        async for step in steps:
            tally.tokens += 1
            if k is not None:
                pending.append(_lp_entry(step, k))
            text = out.add(step.delta)
            if text:
                yield text, pending
                pending = []
            if out.stopped:
                break
    rest = out.flush()
    if rest or pending:
        yield rest, pending
    tally.finish = "length" if tally.tokens >= max_tokens and not out.stopped else "stop"


async def _collect(steps, stop, k, max_tokens):
    tally, text, lps = _Tally(), "", []
    async for piece, entries in _pieces(steps, stop, k, max_tokens, tally):
        text += piece
        lps += entries
    return text, lps, tally.tokens, tally.finish


def _legacy_logprobs(entries: list[dict]) -> dict:
    """Chat-style entries → the /v1/completions ``logprobs`` object."""
    offsets, pos = [], 0
    for e in entries:
        offsets.append(pos)
        pos += len(e["token"])
    return {"tokens": [e["token"] for e in entries], "token_logprobs": [e["logprob"] for e in entries],
            "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in entries],
            "text_offset": offsets}


def _stream_error(e: Exception) -> bytes:
    """An OpenAI-style error event for a stream that failed after its 200 (the OpenAI client raises it)."""
    log.exception("generation failed in a stream", exc_info=e)
    if isinstance(e, APIError):
        return _sse(e.body())
    return _sse(APIError(500, f"generation failed: {type(e).__name__}: {e}".encode("utf-8", "replace").decode(),
                         type="server_error").body())


async def _chat_stream(steps, req, k, head, n_prompt, max_tokens):
    def chunk(delta, lps=None, finish=None):
        return _sse(head | {"object": "chat.completion.chunk", "choices": [{
            "index": 0, "delta": delta, "logprobs": {"content": lps} if lps is not None else None,
            "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": ""})
    tally = _Tally()
    try:
        async for text, entries in _pieces(steps, req.stop, k, max_tokens, tally):
            yield chunk({"content": text}, entries if k is not None else None)
    except Exception as e:  # the 200 is already sent: say what failed, and end the stream properly
        yield _stream_error(e)
        yield b"data: [DONE]\n\n"
        return
    yield chunk({}, None, tally.finish)
    if req.stream_options and req.stream_options.include_usage:
        yield _sse(head | {"object": "chat.completion.chunk", "choices": [], "usage": _usage(n_prompt, tally.tokens)})
    yield b"data: [DONE]\n\n"


async def _completion_stream(steps, req, k, head, n_prompt, max_tokens):
    def chunk(text, lps=None, finish=None):
        return _sse(head | {"object": "text_completion", "choices": [{
            "index": 0, "text": text, "logprobs": _legacy_logprobs(lps) if lps is not None else None,
            "finish_reason": finish}]})

    tally = _Tally()
    try:
        async for text, entries in _pieces(steps, req.stop, k, max_tokens, tally):
            yield chunk(text, entries if k is not None else None)
    except Exception as e:  # the 200 is already sent: say what failed, and end the stream properly
        yield _stream_error(e)
        yield b"data: [DONE]\n\n"
        return
    yield chunk("", None, tally.finish)
    if req.stream_options and req.stream_options.include_usage:
        yield _sse(head | {"object": "text_completion", "choices": [], "usage": _usage(n_prompt, tally.tokens)})
    yield b"data: [DONE]\n\n"


def read_api_key(env_name: str) -> str | None:
    """The key from the environment variable named ``env_name`` (None when no name is given).

    Args:
        env_name: the environment variable's name; "" for no key.

    Returns:
        The key, or None.

    Raises:
        ValueError: the variable is named but unset or empty.
    """
    if not env_name:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise ValueError(f"api_key_env names the environment variable {env_name!r}, which is not set or empty.")
    return key

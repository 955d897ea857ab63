"""`distill serve` on a tiny random chat model, started on a free loopback port and driven with the openai client."""

import asyncio
import json

import pytest

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

from distill.serve.app import StopText, create_app  # noqa: E402
from distill.serve.server import ServerThread  # noqa: E402
from distill.teachers import load_teacher, run_chats  # noqa: E402
from distill.teachers.hf import HFEngine, HFTeacher  # noqa: E402
from tests.teachers.conftest import tiny_chat_model  # noqa: E402,F401

ASK = [{"role": "user", "content": "What is distillation?"}]


@pytest.fixture(scope="module")
def engine(tiny_chat_model):  # noqa: F811
    return HFEngine(str(tiny_chat_model), device="cpu")


@pytest.fixture(scope="module")
def server(engine):
    with ServerThread(create_app(engine, "tiny")) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=30)


def test_models_lists_the_served_name(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]


def test_chat_greedy_matches_the_in_process_teacher(client, engine):
    r = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=12, temperature=0)
    local = asyncio.run(HFTeacher(engine=engine).chat(ASK, max_tokens=12))
    assert r.choices[0].message.content == local.text and len(local.text) > 0
    assert r.usage.prompt_tokens == local.prompt_tokens > 3
    assert r.usage.completion_tokens == local.completion_tokens
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.choices[0].finish_reason == ("length" if local.completion_tokens == 12 else "stop")


def test_streaming_chunks_add_up_to_the_whole_answer(client):
    whole = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=15, temperature=0)
    chunks = list(client.chat.completions.create(model="tiny", messages=ASK, max_tokens=15, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3  # streamed, not one lump
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_logprobs_are_the_models_own(client, engine):
    import torch

    r = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=5, temperature=0, logprobs=True,
                                       top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 5
    # recompute the first token's distribution with a plain forward pass
    ids = engine.chat_prompt_ids(ASK)
    with torch.no_grad():
        logp = engine.model(torch.tensor([ids])).logits[0, -1].log_softmax(-1)
    v, i = logp.topk(3)
    assert content[0].logprob == pytest.approx(v[0].item(), abs=1e-4)  # greedy: the top token
    assert [t.logprob for t in content[0].top_logprobs] == pytest.approx(v.tolist(), abs=1e-4)
    assert content[0].top_logprobs[0].token == engine.tokenizer.decode([i[0].item()])
    assert all(c.logprob <= 0 and len(c.top_logprobs) == 3 for c in content)


def test_seeded_sampling_is_reproducible(client):
    def sample(seed):
        return client.chat.completions.create(model="tiny", messages=ASK, max_tokens=20, temperature=2.0,
                                              seed=seed).choices[0].message.content

    a = sample(1)
    assert a == sample(1)
    assert len({a, sample(2), sample(3)}) > 1


def test_stop_strings_cut_the_answer(client):
    full = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=20, temperature=0)
    text = full.choices[0].message.content
    stop = text[len(text) // 2: len(text) // 2 + 2]
    cut = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=20, temperature=0, stop=[stop])
    assert cut.choices[0].message.content == text[: text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="tiny", messages=ASK, max_tokens=20, temperature=0, stop=stop, stream=True) if c.choices)
    assert streamed == cut.choices[0].message.content


def test_completions_endpoint(client, engine):
    r = client.completions.create(model="tiny", prompt="The student matches", max_tokens=6, temperature=0,
                                  logprobs=2)
    ids = engine.text_prompt_ids("The student matches")
    ref = engine.generate(ids, max_tokens=6)
    assert r.choices[0].text == ref["text"] and r.usage.prompt_tokens == len(ids)
    assert len(r.choices[0].logprobs.tokens) == 6 and all(len(t) == 2 for t in r.choices[0].logprobs.top_logprobs)
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny", prompt="The student matches", max_tokens=6, temperature=0, stream=True) if c.choices)
    assert streamed == ref["text"]


@pytest.mark.parametrize("body,status,param", [
    ({"model": "nope", "messages": ASK}, 404, "model"),
    ({"model": "tiny", "messages": ASK, "temperature": 3}, 400, "temperature"),
    ({"model": "tiny", "messages": ASK, "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "tiny", "messages": []}, 400, "messages"),
    ({"model": "tiny", "messages": ASK, "top_logprobs": 2}, 400, None),
    ({"model": "tiny", "messages": ASK, "n": 2}, 400, "n"),
    ({"model": "tiny", "messages": [{"role": "user", "content": "x " * 400}]}, 400, "messages"),
])
def test_bad_requests_get_openai_style_errors(server, body, status, param):
    r = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["message"] and err["type"] and err["param"] == param


def test_malformed_json_and_unknown_routes(server):
    r = httpx.post(server.url + "/v1/chat/completions", content=b"{not json", timeout=10,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()
    r = httpx.get(server.url + "/v1/nothing", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_bearer_key_is_checked(engine):
    with ServerThread(create_app(engine, "tiny", api_key="s3cret")) as s:
        assert httpx.get(s.url + "/v1/models").status_code == 401
        ok = openai.OpenAI(base_url=s.url + "/v1", api_key="s3cret", max_retries=0)
        assert [m.id for m in ok.models.list().data] == ["tiny"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0).models.list()


def test_http_teacher_against_our_own_server(server, engine):
    t = load_teacher(server.url, timeout=30)
    reqs = [{"messages": [{"role": "user", "content": q}], "max_tokens": 16}
            for q in ("What is distillation?", "What is a student?", "Soft targets")]
    res = run_chats(t, reqs, concurrency=3, progress=False)
    local = run_chats(HFTeacher(engine=engine), reqs, concurrency=1, progress=False)
    assert [c.text for c in res] == [c.text for c in local]
    assert t.name == "tiny" and t.stats.succeeded == 3 and t.stats.completion_tokens == sum(
        c.completion_tokens for c in local)
    lp = asyncio.run(t.chat(reqs[0]["messages"], max_tokens=4, top_logprobs=2))
    assert len(lp.top_logprobs) == len(lp.token_logprobs) == 4 and all(len(d) <= 2 for d in lp.top_logprobs)


def test_stop_text_holds_back_a_possible_stop():
    s = StopText(["END"])
    assert s.add("abc E") == "abc " and s.add("N") == "" and s.add("X") == "ENX"
    s = StopText(["END"])
    assert s.add("ab") == "ab" and s.add("EN") == "" and s.add("D and more") == "" and s.stopped
    assert s.text == "ab" and json.dumps(s.flush()) == '""'


def test_default_length_fits_the_context_in_both_backends(server, engine):
    """No max_tokens: the server and the in-process teacher stop at the same place (the context's end)."""
    t = load_teacher(server.url, timeout=60)
    remote = run_chats(t, [ASK], progress=False)[0]
    local = asyncio.run(HFTeacher(engine=engine).chat(ASK))
    assert remote.text == local.text and remote.prompt_tokens + remote.completion_tokens <= engine.max_context


def _post(server, path, body, **kw):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.url + path, content=raw, headers={"content-type": "application/json"}, timeout=30, **kw)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path,body,param,says", [
    ("/v1/chat/completions", {"model": "tiny", "messages": ASK, "seed": 2**64}, "seed", "less than"),
    ("/v1/chat/completions", {"model": "tiny", "messages": ASK, "seed": -(2**63) - 1}, "seed", "greater than"),
    ("/v1/chat/completions", b'{"model": "tiny", "messages": [{"role": "user", "content": "a\\ud800b"}]}',
     "messages.0.content", "lone surrogate"),
    ("/v1/chat/completions", b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stop": "\\udfff"}',
     "stop", "lone surrogate"),
    ("/v1/completions", b'{"model": "tiny", "prompt": "x\\ud800"}', "prompt", "lone surrogate"),
    ("/v1/completions", {"model": "tiny", "prompt": ""}, "prompt", "prompt is empty"),
    ("/v1/completions", {"model": "tiny", "prompt": [""]}, "prompt", "prompt is empty"),
])
def test_hostile_values_are_400s_not_500s_or_empty_streams(server, path, body, param, says, stream):
    """Issue 14 item 8: each of these was a 500, or with stream=true a 200 that ended without [DONE]."""
    if isinstance(body, dict):
        body = dict(body, stream=stream)
    else:
        body = body[:-1] + (b', "stream": true}' if stream else b"}")
    r = _post(server, path, body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param and says in err["message"] and err["type"] == "invalid_request_error"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("temperature", [1e-39, 1e-139, 5e-324])  # the last two are 0 in float32
def test_a_tiny_temperature_is_greedy_not_nan(client, stream, temperature):
    greedy = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=8, temperature=0)
    kw = dict(model="tiny", messages=ASK, max_tokens=8, temperature=temperature, seed=3)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**kw, stream=True)
                       if c.choices)
    else:
        text = client.chat.completions.create(**kw).choices[0].message.content
    assert text == greedy.choices[0].message.content and text


class _FailsAfterOneToken:
    """The engine, but generation breaks after the first token (a fault the request could not be checked for)."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def steps(self, *a, **kw):
        it = self._engine.steps(*a, **kw)
        yield next(it)
        raise RuntimeError("the device fell over")


@pytest.mark.parametrize("path,body", [
    ("/v1/chat/completions", {"model": "tiny", "messages": ASK, "max_tokens": 5, "stream": True}),
    ("/v1/completions", {"model": "tiny", "prompt": "The student", "max_tokens": 5, "stream": True}),
])
def test_a_stream_that_fails_sends_an_error_event_and_done(engine, path, body):
    with ServerThread(create_app(_FailsAfterOneToken(engine), "tiny")) as s:
        r = httpx.post(s.url + path, json=body, timeout=30)
        events = [e.removeprefix("data: ") for e in r.text.split("\n\n") if e]
        assert r.status_code == 200 and events[-1] == "[DONE]"
        err = json.loads(events[-2])["error"]
        assert "the device fell over" in err["message"] and err["type"] == "server_error"
        c = openai.OpenAI(base_url=s.url + "/v1", api_key="unused", max_retries=0, timeout=30)
        with pytest.raises(openai.APIError, match="the device fell over"):
            list(c.chat.completions.create(model="tiny", messages=ASK, max_tokens=5, stream=True))


class _Recording:
    """The engine, recording tokenizer calls, optionally slow at tokenizing (a huge prompt, in effect)."""

    def __init__(self, engine, delay=0.0):
        self._engine, self.delay, self.calls = engine, delay, 0

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def text_prompt_ids(self, prompt):
        import time

        self.calls += 1
        time.sleep(self.delay)
        return self._engine.text_prompt_ids(prompt)


def test_request_body_and_prompt_limits_are_checked_before_tokenizing(engine):
    """Issue 14 item 7: a 50 MB body was tokenized (198 s, 5 GB) before a 400."""
    rec = _Recording(engine)
    with ServerThread(create_app(rec, "tiny", max_body_bytes=2000, max_prompt_tokens=20)) as s:
        big = {"model": "tiny", "prompt": "word " * 600}
        r = httpx.post(s.url + "/v1/completions", json=big, timeout=30)
        assert r.status_code == 413 and "limit of 2,000 bytes" in r.json()["error"]["message"]
        assert r.json()["error"]["code"] == "request_too_large"

        def chunks():  # no Content-Length: the limit holds for a chunked body too
            yield b'{"model": "tiny", "prompt": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        r = httpx.post(s.url + "/v1/completions", content=chunks(), timeout=30,
                       headers={"content-type": "application/json"})
        assert r.status_code == 413 and "2,000 bytes" in r.text
        r = httpx.post(s.url + "/v1/completions", json={"model": "tiny", "prompt": "x" * 321}, timeout=30)
        err = r.json()["error"]
        assert r.status_code == 400 and err["param"] == "prompt" and "321 characters" in err["message"]
        assert "limit of 20 tokens" in err["message"] and rec.calls == 0  # refused without tokenizing
        n = len(engine.text_prompt_ids("the student " * 15))
        assert n > 20
        r = httpx.post(s.url + "/v1/completions", json={"model": "tiny", "prompt": "the student " * 15}, timeout=30)
        err = r.json()["error"]
        assert r.status_code == 400 and f"has {n} tokens" in err["message"] and "limit of 20 tokens" in err["message"]
        assert err["code"] == "context_length_exceeded" and rec.calls == 1
        r = httpx.post(s.url + "/v1/completions", json={"model": "tiny", "prompt": "the student", "max_tokens": 2},
                       timeout=30)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 2


def test_tokenizing_a_big_prompt_does_not_stall_other_requests(engine):
    """Issue 14 item 7: tokenizing ran on the event loop, so /v1/models timed out behind one large request."""
    import threading
    import time

    slow = _Recording(engine, delay=2.0)
    with ServerThread(create_app(slow, "tiny")) as s:
        t = threading.Thread(target=httpx.post, args=(s.url + "/v1/completions",),
                             kwargs={"json": {"model": "tiny", "prompt": "hello", "max_tokens": 1}, "timeout": 30})
        t.start()
        while slow.calls == 0:
            time.sleep(0.01)
        t0 = time.perf_counter()
        assert httpx.get(s.url + "/v1/models", timeout=30).status_code == 200
        waited = time.perf_counter() - t0
        t.join()
    assert waited < 1.0  # the tokenizer is busy for 2 s in a worker thread meanwhile

"""Fuzz: any body sent to `distill serve` gets a clear OpenAI-style answer — never a 500, never a cut-off stream.

A fake engine stands in for the model (byte-level tokens, so text that is not valid UTF-8 would crash it just as
a real tokenizer does); the app, its validation and its streaming are the real ones.
"""

import json
import threading

import pytest

pytest.importorskip("fastapi")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from distill.serve.app import create_app  # noqa: E402
from distill.teachers.hf import Step, next_token  # noqa: E402


class ByteEngine:
    """Tokens are UTF-8 bytes; generation repeats the prompt's bytes, sampled with the request's temperature."""

    max_context = 256

    def __init__(self):
        self.lock = threading.Lock()

    def chat_prompt_ids(self, messages):
        return list("".join(f"{m['role']}: {m['content']}\n" for m in messages).encode("utf-8"))

    def text_prompt_ids(self, prompt):
        return list(prompt.encode("utf-8"))

    def budget(self, n_prompt, max_tokens):
        if n_prompt >= self.max_context:
            raise ValueError(f"the prompt has {n_prompt} tokens; the model's context is {self.max_context} tokens.")
        return min(max_tokens, self.max_context - n_prompt)

    def steps(self, prompt_ids, *, max_tokens, temperature=0.0, seed=None, top_logprobs=None):
        import torch

        if not prompt_ids:
            raise ValueError("the prompt is empty: nothing to continue from.")
        gen = torch.Generator()
        if seed is not None:
            gen.manual_seed(seed)
        logp = torch.linspace(0, -5, 256).log_softmax(-1)
        for _ in range(max_tokens):
            nxt = next_token(logp, temperature, gen)  # the real engine's sampling
            ch = chr(32 + nxt % 90)
            yield Step(nxt, ch, ch, float(logp[nxt]), {ch: float(logp[nxt])} if top_logprobs else None)


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    return TestClient(create_app(ByteEngine(), "fake", max_body_bytes=64 << 10), raise_server_exceptions=False)


text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)  # surrogates included
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=True, allow_infinity=True), text)
json_any = st.recursive(json_scalar, lambda c: st.one_of(st.lists(c, max_size=4),
                                                         st.dictionaries(text, c, max_size=4)), max_leaves=12)
def mostly(valid, hostile):
    """Usually a valid value (so requests get as far as generating), sometimes a hostile one."""
    return st.integers(0, 3).flatmap(lambda i: hostile if i == 0 else valid)  # one_of would flatten and dilute


plain = st.text(max_size=30)  # no surrogates
role = mostly(st.sampled_from(["system", "developer", "user", "assistant", "tool"]), text)
part = st.fixed_dictionaries({"type": mostly(st.just("text"), text), "text": mostly(plain, st.one_of(text, json_scalar))})
content = mostly(plain, st.one_of(text, st.none(), st.lists(part, max_size=3), json_scalar))
message = mostly(st.fixed_dictionaries({"role": role, "content": content}), json_any)
model = mostly(st.just("fake"), st.one_of(text, json_scalar))
sampling = {"temperature": mostly(st.floats(0, 2), st.one_of(st.floats(), st.just(1e-39), st.just(5e-324), json_scalar)),
            "seed": mostly(st.integers(0, 2**32), st.one_of(st.integers(-(2**70), 2**70), json_scalar)),
            "stop": mostly(st.lists(plain, max_size=4), st.one_of(text, st.lists(text, max_size=6), json_scalar)),
            "stream": mostly(st.booleans(), json_scalar),
            "max_tokens": mostly(st.integers(1, 40), st.one_of(st.integers(-5, 10**6), json_scalar)),
            "n": mostly(st.just(1), st.integers()), "top_p": mostly(st.just(1.0), st.floats()),
            "stream_options": mostly(st.fixed_dictionaries({"include_usage": st.booleans()}), json_scalar)}
chat_body = st.fixed_dictionaries(
    {"model": model, "messages": mostly(st.lists(message, min_size=1, max_size=3), json_any)},
    optional=sampling | {"logprobs": mostly(st.booleans(), json_scalar),
                         "top_logprobs": mostly(st.integers(0, 20), st.one_of(st.integers(), json_scalar))})
completion_body = st.fixed_dictionaries(
    {"model": model, "prompt": mostly(plain, st.one_of(text, st.lists(text, max_size=2), json_scalar))},
    optional=sampling | {"logprobs": mostly(st.integers(0, 5), st.one_of(st.integers(), json_scalar))})


def _encode(body) -> bytes:
    # ensure_ascii: lone surrogates travel as \ud800 escapes, exactly as a hostile client would send them
    return json.dumps(body, allow_nan=True).encode()


def _check(r):
    assert r.status_code in (200, 400, 404, 413), (r.status_code, r.text[:300])
    if r.status_code != 200:
        err = r.json()["error"]
        assert isinstance(err["message"], str) and err["message"] and err["type"]
        return
    if r.headers["content-type"].startswith("text/event-stream"):
        events = [e for e in r.text.split("\n\n") if e]
        assert events[-1] == "data: [DONE]"
        last = json.loads(events[-2].removeprefix("data: "))
        assert "error" in last or last["choices"] == [] or last["choices"][0]["finish_reason"] in ("stop", "length")
    else:
        assert r.json()["choices"][0]["finish_reason"] in ("stop", "length")


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@FUZZ
@given(body=st.one_of(chat_body, json_any))
def test_chat_bodies(client, body):
    _check(client.post("/v1/chat/completions", content=_encode(body), headers={"content-type": "application/json"}))


@FUZZ
@given(body=st.one_of(completion_body, json_any))
def test_completion_bodies(client, body):
    _check(client.post("/v1/completions", content=_encode(body), headers={"content-type": "application/json"}))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_raw_bytes(client, raw):
    _check(client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"}))


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=st.one_of(chat_body, completion_body, json_any))
def test_request_bodies_long(client, body):
    path = "/v1/completions" if isinstance(body, dict) and "prompt" in body else "/v1/chat/completions"
    _check(client.post(path, content=_encode(body), headers={"content-type": "application/json"}))

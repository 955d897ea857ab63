"""The HTTP teacher against a local fake endpoint: answers, logprobs, model discovery, and every kind of failure."""

import asyncio
import email.utils
import os
import random
import time

import pytest

from distill.serve.fake import FakeEndpoint
from distill.teachers import load_teacher, run_chats
from distill.teachers.http import HTTPTeacher, TeacherError, backoff_delay, parse_retry_after

pytest.importorskip("httpx")


def ask(i):
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"question {i}"}]


def fast(url, **kw):
    """A teacher that retries quickly (tests should not wait seconds of backoff)."""
    return HTTPTeacher(url, backoff_base=0.01, backoff_cap=0.05, jitter_seed=0, **kw)


def test_answers_in_order_with_tokens_and_logprobs():
    with FakeEndpoint(latency=0.01) as ep:
        t = fast(ep.url)
        assert t.name == ""  # asked lazily
        res = run_chats(t, [ask(i) for i in range(20)], concurrency=5, progress=False)
        assert [c.text for c in res] == [f"echo: question {i}" for i in range(20)]
        assert t.name == "fake-teacher" and res[0].model == "fake-teacher"
        assert res[0].prompt_tokens == 4 and res[0].completion_tokens == 3  # words, as the fake counts
        assert t.stats.prompt_tokens == 80 and t.stats.completion_tokens == 60
        assert t.stats.requests == t.stats.succeeded == 20 and not t.stats.retries
        assert t.stats.attempts == 21  # one GET /v1/models, then 20 chats
        c = asyncio.run(t.chat(ask(1), top_logprobs=3))
        assert c.tokens == ["echo:", "question", "1"] and c.token_logprobs == [-0.1] * 3
        assert c.top_logprobs[0] == {"echo:": -0.1, "alt0": -2.0, "alt1": -3.0}
        assert ep.answered == 21 and ep.max_in_flight <= 5


def test_every_fault_is_counted_retried_and_the_run_completes():
    faults = ["garbage", "truncated", "html", "html502", "429", "500", "sleep", "close", "429date"]
    with FakeEndpoint(faults=faults, fault_sleep=2.0, retry_after=0.2) as ep:
        t = fast(ep.url, timeout=0.3, max_retries=4, model="m")
        res = run_chats(t, [ask(i) for i in range(12)], concurrency=3, progress=False)
        assert [c.text for c in res] == [f"echo: question {i}" for i in range(12)]
        assert dict(ep.faults_served) == {f: 1 for f in faults}
        assert dict(t.stats.retries) == {"bad_body": 3, "5xx": 2, "429": 2, "timeout": 1, "connect": 1}
        assert t.stats.attempts == 12 + len(faults) and t.stats.failures == 0 and t.stats.succeeded == 12


def test_retry_after_is_honoured():
    with FakeEndpoint(faults=["429"], retry_after=0.6) as ep:
        t = fast(ep.url, model="m")
        t0 = time.perf_counter()
        assert asyncio.run(t.chat(ask(0))).text == "echo: question 0"
        assert time.perf_counter() - t0 >= 0.6  # backoff alone would have waited ≤ 0.05 s
        assert t.stats.retries["429"] == 1


def test_gives_up_after_max_retries_with_a_clear_error():
    with FakeEndpoint(faults=["500"] * 3) as ep:
        t = fast(ep.url, max_retries=2, model="m")
        with pytest.raises(TeacherError, match=r"failed 3 times; last: 5xx: HTTP 500"):
            asyncio.run(t.chat(ask(0)))
        assert t.stats.failures == 1 and t.stats.retries["5xx"] == 2 and ep.received == 3
        res = run_chats(t, [ask(1)], concurrency=1, progress=False, errors="return")
        assert res[0].text == "echo: question 1"  # the endpoint recovered


def test_errors_return_mode_keeps_going():
    with FakeEndpoint(faults=["500", "500"]) as ep:
        t = fast(ep.url, max_retries=1, model="m")
        res = run_chats(t, [ask(0), ask(1), ask(2)], concurrency=1, progress=False, errors="return")
        assert isinstance(res[0], TeacherError) and [c.text for c in res[1:]] == ["echo: question 1", "echo: question 2"]
        assert ep.answered == 2


def test_api_key_from_named_variable_never_shown(monkeypatch):
    secret = "sk-test-" + "x" * 20
    monkeypatch.setenv("MY_TEACHER_KEY", secret)
    with FakeEndpoint(api_key=secret) as ep:
        t = fast(ep.url, api_key_env="MY_TEACHER_KEY")
        assert asyncio.run(t.chat(ask(0))).text == "echo: question 0"
        assert secret not in repr(t) and "MY_TEACHER_KEY" in repr(t)
        monkeypatch.setenv("MY_TEACHER_KEY", "wrong-key-value")
        t2 = fast(ep.url, api_key_env="MY_TEACHER_KEY", model="m")
        with pytest.raises(TeacherError, match=r"HTTP 401.*\$MY_TEACHER_KEY") as e:
            asyncio.run(t2.chat(ask(0)))
        assert "wrong-key-value" not in str(e.value) and "***" in str(e.value)  # the fake echoed it back
        assert t2.stats.attempts == 1  # 401 is not retried
    monkeypatch.delenv("MY_TEACHER_KEY")
    with pytest.raises(ValueError, match="MY_TEACHER_KEY.*not set"):
        HTTPTeacher("http://127.0.0.1:1", api_key_env="MY_TEACHER_KEY")


def test_connection_refused_is_retried_then_fails():
    t = fast("http://127.0.0.1:9", max_retries=1, model="m", timeout=1.0)  # port 9: nothing listens
    with pytest.raises(TeacherError, match="connect"):
        asyncio.run(t.chat(ask(0)))
    assert t.stats.retries["connect"] == 1


def test_parse_retry_after_seconds_and_dates():
    now = time.time()
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(email.utils.formatdate(now + 10, usegmt=True), now=now) == pytest.approx(10, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 10, usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_backoff_is_exponential_with_full_jitter():
    rng = random.Random(0)
    draws = [[backoff_delay(a, 0.5, 4.0, rng) for _ in range(2000)] for a in range(5)]
    for a, d in enumerate(draws):
        hi = min(4.0, 0.5 * 2 ** a)
        assert 0 <= min(d) and max(d) <= hi
        assert sum(d) / len(d) == pytest.approx(hi / 2, rel=0.08)  # uniform on [0, hi]


def test_load_teacher_forms_and_errors(tmp_path):
    t = load_teacher("https://api.example.com", model="gpt-x", timeout=5, max_retries=1, device="cpu")
    assert isinstance(t, HTTPTeacher) and t.base_url == "https://api.example.com/v1" and t.name == "gpt-x"
    with pytest.raises(ValueError, match="accepted forms.*smollm2.*http.*gguf"):
        load_teacher("no-such-thing")
    with pytest.raises(FileNotFoundError, match="no such GGUF"):
        load_teacher(str(tmp_path / "x.gguf"))
    with pytest.raises(TypeError, match="unknown option"):
        load_teacher("http://x", temprature=1)
    assert os.environ.get("DISTILL_NEVER_SET") is None

"""run_chats (order, bounded concurrency, errors) and RecordedTeacher (SQLite store, resume after kill -9)."""

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import distill
from distill.serve.fake import FakeEndpoint
from distill.teachers import (
    ChatRequest,
    Completion,
    RecordedTeacher,
    arun_chats,
    load_teacher,
    run_chats,
)
from distill.teachers.runner import request_key

pytest.importorskip("httpx")


class CountingTeacher:
    """An in-memory teacher that counts calls and concurrent calls, answering after a short sleep."""

    name = "counting"

    def __init__(self, delay=0.01, fail_on=()):
        self.calls, self.in_flight, self.max_in_flight, self.delay, self.fail_on = 0, 0, 0, delay, set(fail_on)

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.delay * (1 + (len(messages[-1]["content"]) % 3)))  # finish out of order
        self.in_flight -= 1
        text = messages[-1]["content"]
        if text in self.fail_on:
            raise RuntimeError(f"cannot answer {text}")
        return Completion(text=f"{text}|{max_tokens}|{temperature}|{seed}", prompt_tokens=1, completion_tokens=1,
                          model=self.name)


def msgs(s):
    return [{"role": "user", "content": s}]


def test_run_chats_keeps_order_and_bounds_concurrency():
    t = CountingTeacher()
    reqs = [msgs(f"q{i}" + "x" * (i % 3)) for i in range(30)]
    res = run_chats(t, reqs, concurrency=4, progress=False)
    assert [c.text.split("|")[0] for c in res] == [r[0]["content"] for r in reqs]
    assert t.max_in_flight == 4 and t.calls == 30
    res = run_chats(t, [ChatRequest(msgs("a"), max_tokens=7, seed=3), {"messages": msgs("b"), "temperature": 0.5}],
                    concurrency=2, progress=False)
    assert [c.text for c in res] == ["a|7|0.0|3", "b|512|0.5|None"]


def test_run_chats_errors_raise_or_return():
    t = CountingTeacher(fail_on={"bad"})
    with pytest.raises(RuntimeError, match="cannot answer bad"):
        run_chats(t, [msgs("a"), msgs("bad"), msgs("c")], concurrency=2, progress=False)
    res = run_chats(t, [msgs("a"), msgs("bad"), msgs("c")], concurrency=2, progress=False, errors="return")
    assert isinstance(res[1], RuntimeError) and res[0].text.startswith("a|") and res[2].text.startswith("c|")
    with pytest.raises(ValueError, match="concurrency must be ≥ 1"):
        run_chats(t, [msgs("a")], concurrency=0)


def test_run_chats_refuses_a_running_loop():
    async def inner():
        with pytest.raises(RuntimeError, match="await arun_chats"):
            run_chats(CountingTeacher(), [msgs("a")], progress=False)
        return await arun_chats(CountingTeacher(), [msgs("a")], progress=False)

    assert asyncio.run(inner())[0].text.startswith("a|")


def test_recorded_teacher_stores_and_reuses_answers(tmp_path):
    t = CountingTeacher()
    rec = RecordedTeacher(t, tmp_path / "calls.sqlite")
    reqs = [msgs("a"), msgs("b"), msgs("a"), ChatRequest(msgs("a"), seed=1), ChatRequest(msgs("a"), max_tokens=9)]
    res = run_chats(rec, reqs, concurrency=5, progress=False)
    # "a" twice at once: the second shares the first's call; seed and max_tokens make distinct requests
    assert t.calls == 4 and rec.misses == 4 and rec.hits == 1 and len(rec) == 4
    assert res[0].text == res[2].text == "a|512|0.0|None" and res[3].text == "a|512|0.0|1"
    rec.close()
    rec2 = RecordedTeacher(t, tmp_path / "calls.sqlite")  # a new process would see the same
    again = run_chats(rec2, reqs, concurrency=2, progress=False)
    assert t.calls == 4 and rec2.hits == 5 and all(c.cached for c in again)
    assert [c.text for c in again] == [c.text for c in res]
    assert sqlite3.connect(tmp_path / "calls.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_request_key_is_canonical():
    s = {"max_tokens": 5, "temperature": 0.0, "seed": None, "top_logprobs": None}
    k = request_key("m", msgs("hi"), s)
    assert k == request_key("m", [{"content": "hi", "role": "user"}], dict(reversed(list(s.items()))))
    assert len({k, request_key("m2", msgs("hi"), s), request_key("m", msgs("hi "), s),
                request_key("m", msgs("hi"), s | {"temperature": 0.7})}) == 4


CLIENT = """
import json, sys
from distill.teachers import RecordedTeacher, load_teacher, run_chats
url, db, out = sys.argv[1:4]
distinct = [[{"role": "user", "content": f"question {i}"}] for i in range(50)]
reqs = [r for i, r in enumerate(distinct) for _ in range(2 if i < 10 else 1)]  # 60 requests, 50 distinct
rec = RecordedTeacher(load_teacher(url, max_retries=0), db)
res = run_chats(rec, reqs, concurrency=8, progress=False)
json.dump([[c.text, c.prompt_tokens, c.completion_tokens, c.model] for c in res], open(out, "w"))
"""


def _client(tmp_path, url, db, out):
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    env = os.environ | {"PYTHONPATH": str(Path(distill.__file__).parents[1])}
    return subprocess.Popen([sys.executable, str(script), url, str(db), str(out)], env=env)


def _wait(cond, timeout=60):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


def test_kill_9_mid_run_then_resume_repeats_no_call_and_loses_none(tmp_path):
    with FakeEndpoint(latency=0.02, capacity=8) as ep:
        ep.stall(after=20)  # answer 20, then hold every request, so the kill lands with calls in flight
        p = _client(tmp_path, ep.url, tmp_path / "calls.sqlite", tmp_path / "out1.json")
        _wait(lambda: ep.answered >= 20 and ep.received > 20)
        time.sleep(0.5)  # the client stores the 20 answers it got
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait(30) == -signal.SIGKILL and not (tmp_path / "out1.json").exists()
        ep.release()  # the held requests now find their client gone: not answered
        time.sleep(0.2)
        stored = sqlite3.connect(tmp_path / "calls.sqlite").execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        assert stored == ep.answered == 20  # every answer that arrived was kept
        in_flight_at_kill = ep.received - ep.answered
        assert in_flight_at_kill >= 1

        p = _client(tmp_path, ep.url, tmp_path / "calls.sqlite", tmp_path / "out2.json")
        assert p.wait(60) == 0
        assert ep.answered == 50 and set(ep.by_key.values()) == {1}  # each distinct request answered once
        resumed = json.loads((tmp_path / "out2.json").read_text())

        answered = ep.answered
        p = _client(tmp_path, ep.url, tmp_path / "calls.sqlite", tmp_path / "out3.json")
        assert p.wait(60) == 0 and ep.answered == answered  # a finished run asks nothing again
        assert json.loads((tmp_path / "out3.json").read_text()) == resumed

    with FakeEndpoint(latency=0.0) as ep2:  # the same run, never interrupted
        p = _client(tmp_path, ep2.url, tmp_path / "fresh.sqlite", tmp_path / "fresh.json")
        assert p.wait(60) == 0 and ep2.answered == 50
    assert resumed == json.loads((tmp_path / "fresh.json").read_text())
    assert [r[0] for r in resumed[:4]] == ["echo: question 0", "echo: question 0", "echo: question 1", "echo: question 1"]


def test_recorded_http_teacher_keys_by_the_discovered_model(tmp_path):
    with FakeEndpoint() as ep:
        rec = RecordedTeacher(load_teacher(ep.url), tmp_path / "c.sqlite")
        assert run_chats(rec, [msgs("x")], progress=False)[0].text == "echo: x"
        row = sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT request FROM calls").fetchone()[0]
        assert json.loads(row)["model"] == "fake-teacher"


def test_a_shared_call_that_is_cancelled_does_not_cancel_its_sharer(tmp_path):
    t = CountingTeacher(delay=0.05)
    rec = RecordedTeacher(t, tmp_path / "c.sqlite")

    async def main():
        first = asyncio.create_task(rec.chat(msgs("same")))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(rec.chat(msgs("same")))  # shares the first's call
        await asyncio.sleep(0.01)
        first.cancel()
        return await second

    assert asyncio.run(main()).text == "same|512|0.0|None"
    assert t.calls == 2 and len(rec) == 1  # the sharer asked again itself


def test_a_shared_failure_reaches_every_sharer(tmp_path):
    rec = RecordedTeacher(CountingTeacher(fail_on={"bad"}), tmp_path / "c.sqlite")
    res = run_chats(rec, [msgs("bad"), msgs("bad")], concurrency=2, progress=False, errors="return")
    assert all(isinstance(r, RuntimeError) for r in res) and len(rec) == 0


def test_int_and_float_settings_are_one_request(tmp_path):
    t = CountingTeacher()
    rec = RecordedTeacher(t, tmp_path / "c.sqlite")
    asyncio.run(rec.chat(msgs("a"), temperature=0))
    assert asyncio.run(rec.chat(msgs("a"), temperature=0.0)).cached and t.calls == 1

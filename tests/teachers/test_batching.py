"""Dynamic batching of the transformers teacher: batched answers equal one-at-a-time answers, per-row settings."""

import asyncio

import pytest

from distill.teachers import run_chats
from distill.teachers.batching import Batcher, Job, generate_batch
from distill.teachers.hf import HFTeacher, collect

pytest.importorskip("transformers")

QUESTIONS = ["What is distillation?", "Soft targets", "A student", "The teacher model knows",
             "What is the temperature T of the soft targets at every position?", "dark knowledge",
             "A chunk of documentation becomes questions", "next-token distribution"]


def chat(q):
    return [{"role": "user", "content": q}]


@pytest.fixture(scope="module")
def teacher(tiny_chat_model):
    return HFTeacher(str(tiny_chat_model), device="cpu")


def alone(engine, job):
    with engine.lock:
        return collect(engine.steps(job.prompt_ids, max_tokens=job.max_tokens, temperature=job.temperature,
                                    seed=job.seed, top_logprobs=job.top_logprobs),
                       job.max_tokens, job.stop, len(job.prompt_ids))


def test_greedy_batch_equals_sequential_exactly(teacher):
    """Prompts of different lengths (so real left padding) and budgets: the same tokens as one at a time."""
    eng = teacher.engine
    jobs = [Job(eng.chat_prompt_ids(chat(q)), max_tokens=4 + 3 * i) for i, q in enumerate(QUESTIONS)]
    assert len({len(j.prompt_ids) for j in jobs}) > 3
    with eng.lock:
        batched = generate_batch(eng, jobs)
    for j, b in zip(jobs, batched, strict=True):
        a = alone(eng, j)
        assert b["tokens"] == a["tokens"] and b["text"] == a["text"]
        assert b["finish_reason"] == a["finish_reason"] and b["completion_tokens"] == a["completion_tokens"]
        assert b["prompt_tokens"] == len(j.prompt_ids)
    assert {b["finish_reason"] for b in batched} == {"length"}  # budgets really bound (tiny model never EOSes)


def test_per_row_settings_in_one_batch(teacher):
    """Greedy, seeded sampling, stop strings, top-k log-probs and a zero budget, mixed in one batch."""
    eng = teacher.engine
    ids = [eng.chat_prompt_ids(chat(q)) for q in QUESTIONS[:5]]
    greedy = alone(eng, Job(ids[2], max_tokens=12))
    stop = greedy["text"][4:7]  # a string the greedy answer contains: the stopped answer ends before it
    jobs = [Job(ids[0], 10), Job(ids[1], 10, temperature=1.5, seed=3), Job(ids[2], 12, stop=[stop]),
            Job(ids[3], 6, top_logprobs=3), Job(ids[4], 0)]
    with eng.lock:
        out = generate_batch(eng, jobs)
    for j, b in zip(jobs, out, strict=True):
        a = alone(eng, j)
        assert b["tokens"] == a["tokens"] and b["text"] == a["text"] and b["finish_reason"] == a["finish_reason"]
        assert b["token_logprobs"] == pytest.approx(a["token_logprobs"], abs=1e-4)
    assert out[2]["finish_reason"] == "stop" and out[2]["text"] == greedy["text"][:greedy["text"].index(stop)]
    assert [list(t) for t in out[3]["top_logprobs"]] == [list(t) for t in alone(eng, jobs[3])["top_logprobs"]]
    assert out[4] == {**out[4], "completion_tokens": 0, "finish_reason": "length", "text": ""}
    again = generate_batch(eng, jobs[:2])  # the seeded row samples the same answer again
    assert again[1]["tokens"] == out[1]["tokens"]


def test_run_chats_batches_and_keeps_order(teacher):
    """Concurrent calls through run_chats are grouped into batches; answers equal sequential ones, in order."""
    reqs = [{"messages": chat(q), "max_tokens": 6 + i} for i, q in enumerate(QUESTIONS)]
    seq = [asyncio.run(teacher.chat(r["messages"], max_tokens=r["max_tokens"])) for r in reqs]
    teacher.batcher.sizes.clear()
    res = run_chats(teacher, reqs, concurrency=8, progress=False)
    assert [c.text for c in res] == [c.text for c in seq]
    assert [c.completion_tokens for c in res] == [c.completion_tokens for c in seq] == [6 + i for i in range(8)]
    assert max(teacher.batcher.sizes) > 1 and sum(teacher.batcher.sizes) == len(reqs)


def test_max_batch_one_decodes_alone(tiny_chat_model):
    t = HFTeacher(str(tiny_chat_model), device="cpu", max_batch=1)
    res = run_chats(t, [{"messages": chat(q), "max_tokens": 5} for q in QUESTIONS[:4]], concurrency=4,
                    progress=False)
    assert t.batcher.sizes == [1, 1, 1, 1] and all(c.completion_tokens == 5 for c in res)
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(t.engine, max_batch=0)


def test_a_failing_batch_fails_each_caller(teacher):
    b = Batcher(teacher.engine, gap_s=0.2)
    futs = [b.submit(Job([], 3)) for _ in range(2)]  # empty prompts: generate_batch refuses them
    for f in futs:
        with pytest.raises(ValueError, match="empty"):
            f.result(timeout=30)


def test_a_logits_processor_applies_to_every_batched_row(tiny_chat_model, teacher):
    """A watermark (any logits processor) must not be skipped by the batched decoder: each row's processor
    sees that row's own prompt and tokens, and the answers equal one-at-a-time decoding with it."""
    seen = []

    def favour_last_plus_one(input_ids, scores):  # deterministic and context-dependent
        seen.append(tuple(input_ids.shape))
        out = scores.clone()
        out[0, (int(input_ids[0, -1]) + 1) % scores.shape[-1]] += 50.0
        return out

    eng = HFTeacher(str(tiny_chat_model), device="cpu", logits_processor=favour_last_plus_one).engine
    jobs = [Job(eng.chat_prompt_ids(chat(q)), max_tokens=5) for q in QUESTIONS[:4]]
    with eng.lock:
        batched = generate_batch(eng, jobs)
    assert len(seen) >= 4 and all(s[0] == 1 for s in seen)  # every live row at every step, one row at a time
    assert {s[1] for s in seen[:4]} == {len(j.prompt_ids) for j in jobs}  # its own prompt, not the padded batch
    plain = teacher.engine
    for j, b in zip(jobs, batched, strict=True):
        assert b["tokens"] == alone(eng, j)["tokens"]  # batched = sequential, processor included
        assert b["tokens"] != alone(plain, j)["tokens"]  # and the processor changed the answer

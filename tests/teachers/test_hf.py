"""The in-process transformers teacher: greedy = model.generate, seeded sampling, logprobs, a free event loop."""

import asyncio
import time

import pytest

from distill.teachers import TeacherOptions, load_teacher, run_chats
from distill.teachers.hf import HFEngine, HFTeacher

pytest.importorskip("transformers")

ASK = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is distillation?"}]


@pytest.fixture(scope="module")
def teacher(tiny_chat_model):
    t = load_teacher(str(tiny_chat_model), device="cpu")
    assert isinstance(t, HFTeacher)
    return t


def test_greedy_equals_transformers_generate(teacher):
    import torch

    eng = teacher.engine
    c = asyncio.run(teacher.chat(ASK, max_tokens=10))
    ids = eng.chat_prompt_ids(ASK)
    with torch.no_grad():
        x = torch.tensor([ids])
        ref = eng.model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=10, do_sample=False,
                                 pad_token_id=eng.tokenizer.eos_token_id)
    assert c.text == eng.tokenizer.decode(ref[0, len(ids):], skip_special_tokens=True)
    assert c.prompt_tokens == len(ids) and c.completion_tokens == ref.shape[1] - len(ids)
    assert c.model == teacher.name and c.top_logprobs is None and c.latency_s > 0


def test_top_logprobs_are_sorted_distributions(teacher):
    c = asyncio.run(teacher.chat(ASK, max_tokens=6, top_logprobs=4))
    assert len(c.top_logprobs) == len(c.tokens) == len(c.token_logprobs) == c.completion_tokens
    for lp, top in zip(c.token_logprobs, c.top_logprobs, strict=True):
        vals = list(top.values())
        assert vals == sorted(vals, reverse=True) and 0 < sum(2.718281828 ** v for v in vals) <= 1 + 1e-5
        assert lp == pytest.approx(max(vals))  # greedy picks the most likely token


def test_seeded_sampling_reproducible_and_varied(teacher):
    def sample(seed):
        return asyncio.run(teacher.chat(ASK, max_tokens=20, temperature=2.0, seed=seed)).text

    assert sample(5) == sample(5)
    assert len({sample(5), sample(6), sample(7)}) > 1


def test_calls_run_off_the_event_loop(teacher):
    """While the model generates in its thread, the loop keeps ticking (it would stall if chat blocked it)."""

    async def main():
        ticks = 0
        task = asyncio.create_task(teacher.chat(ASK, max_tokens=40))
        t0 = time.perf_counter()
        while not task.done():
            await asyncio.sleep(0.005)
            ticks += 1
        return ticks, time.perf_counter() - t0, task.result()

    ticks, secs, c = asyncio.run(main())
    assert c.completion_tokens > 10 and ticks >= 5


def test_concurrent_calls_are_serialized_and_in_order(teacher):
    reqs = [[{"role": "user", "content": q}] for q in ("What is distillation?", "Soft targets", "A student")]
    res = run_chats(teacher, [{"messages": m, "max_tokens": 8} for m in reqs], concurrency=3, progress=False)
    alone = [asyncio.run(teacher.chat(m, max_tokens=8)).text for m in reqs]
    assert [c.text for c in res] == alone


def test_base_model_without_chat_template_uses_plain_turns(tiny_teacher):
    eng = HFEngine(str(tiny_teacher), device="cpu")
    ids = eng.chat_prompt_ids([{"role": "user", "content": "hello"}])
    assert ids == eng.tokenizer("user: hello\nassistant:", add_special_tokens=False)["input_ids"]


def test_teacher_options_flags_and_checks(tiny_chat_model):
    import argparse

    from distill.config import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p, TeacherOptions)
    args = p.parse_args(["--teacher", "http://h:1", "--teacher-model", "m", "--api-key-env", "K", "--timeout", "3",
                         "--max-retries", "2", "--concurrency", "16"])
    o = config_from_args(TeacherOptions, args)
    assert (o.teacher, o.teacher_model, o.api_key_env, o.timeout, o.max_retries, o.concurrency) == (
        "http://h:1", "m", "K", 3.0, 2, 16)
    with pytest.raises(ValueError, match="concurrency must be ≥ 1, got 0"):
        TeacherOptions(concurrency=0)
    with pytest.raises(ValueError, match="timeout must be > 0"):
        TeacherOptions(timeout=0)
    t = TeacherOptions(teacher=str(tiny_chat_model)).load_teacher(device="cpu")
    assert isinstance(t, HFTeacher)


def test_a_suspended_generation_leaves_the_consumer_with_autograd_on(teacher):
    # grad mode is per thread: a step generator suspended inside inference mode would switch autograd off for
    # whatever its consumer runs between steps (this failed 168 gradient tests of the full suite once)
    import torch

    eng = teacher.engine
    steps = eng.steps(eng.chat_prompt_ids(ASK), max_tokens=5, temperature=0.0, seed=0)
    first = next(steps)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    w = torch.ones(2, requires_grad=True)
    (w * 3).sum().backward()  # a training step between two generated tokens
    assert w.grad.tolist() == [3.0, 3.0]
    rest = list(steps)
    greedy = eng.generate(eng.chat_prompt_ids(ASK), max_tokens=5, temperature=0.0)
    assert [first.token] + [s.token for s in rest] == greedy["tokens"][: 1 + len(rest)]

"""Several teachers in one `distill lm train` run: routed per example, or mixed with weights."""

import csv
import json

import pytest
import torch

from distill.lm.multi import TeacherSet
from distill.losses import DIVERGENCES, mix_teachers
from tests.lm.tiny import TEXT, make_llama, make_tokenizer

pytest.importorskip("transformers")

CHATS = [[{"role": "user", "content": f"What does the teacher do in case {i}?"},
          {"role": "assistant", "content": "The teacher model knows more; the student matches it."}] for i in range(4)]


@pytest.fixture(scope="module")
def pair(tiny_teacher, tmp_path_factory):
    """Two teachers with one tokenizer (the tiny teacher and another 2-layer Llama), and a student."""
    from distill.lm.student import build_student

    d = tmp_path_factory.mktemp("multi")
    other = make_llama(d / "other", make_tokenizer(TEXT), layers=2, seed=7)
    build_student(str(tiny_teacher), "every-other", d / "student")
    return d, str(tiny_teacher), str(other)


def _models(*paths):
    from transformers import AutoModelForCausalLM

    return [AutoModelForCausalLM.from_pretrained(p).eval() for p in paths]


def test_a_routed_examples_loss_is_the_single_teacher_loss_of_its_teacher(pair):
    d, a, b = pair
    teachers = _models(a, b)
    (student,) = _models(d / "student")
    V = teachers[0].config.vocab_size
    ids = torch.randint(3, V, (4, 12), generator=torch.Generator().manual_seed(0))
    routes = torch.tensor([1, 0, 0, 1])
    targets = TeacherSet(teachers, [a, b]).targets(ids, V, routes)
    with torch.no_grad():
        zs = student(ids).logits[..., :V]
        for i, r in enumerate(routes.tolist()):
            own = teachers[r](ids[i : i + 1]).logits[..., :V]
            for name in ("forward_kl", "jsd"):
                routed = DIVERGENCES[name](zs[i], targets[i], temperature=2.0)
                single = DIVERGENCES[name](zs[i], own[0], temperature=2.0)
                torch.testing.assert_close(routed, single, rtol=1e-6, atol=1e-7)


def test_a_weighted_mixture_is_mix_teachers(pair):
    _, a, b = pair
    teachers = _models(a, b)
    V = teachers[0].config.vocab_size
    ids = torch.randint(3, V, (2, 9), generator=torch.Generator().manual_seed(1))
    got = TeacherSet(teachers, [a, b], weights=(0.25, 0.75), temperature=2.0).targets(ids, V)
    with torch.no_grad():
        ref = mix_teachers([m(ids).logits[..., :V].float() for m in teachers], temperature=2.0, weights=[0.25, 0.75])
    torch.testing.assert_close(got, ref)


def _chat(path, routes):
    path.write_text("".join(json.dumps({"messages": c, "teacher": r}) + "\n"
                            for c, r in zip(CHATS, routes, strict=True)))
    return str(path)


def _run(d, out, **kw):
    from distill.lm.train import LMTrainConfig, run

    base = dict(student=str(d / "student"), window=48, batch_size=2, steps=2, lr=1e-3, warmup=1, temperature=2.0,
                checkpoint_every=0, tensorboard=False, out=str(out))
    run(LMTrainConfig(**(base | kw)))
    return list(csv.DictReader(open(out / "metrics.csv")))


def test_routed_and_mixed_runs_equal_the_single_teacher_run_they_reduce_to(pair, tmp_path):
    """Every record routed to teacher 1 (by its entry, as written, or by index) trains exactly like a run with
    teacher 1 alone; so does a mixture weighing teacher 1 only (the same distribution, up to rounding)."""
    d, a, b = pair
    single = _run(d, tmp_path / "single", teacher=a, data=_chat(tmp_path / "s.jsonl", [0] * 4))
    routed = _run(d, tmp_path / "routed", teachers=(b, a), data=_chat(tmp_path / "r.jsonl", [a, 1, 1, a]))
    mixed = _run(d, tmp_path / "mixed", teachers=(b, a), teacher_weights=(0.0, 2.0),
                 data=_chat(tmp_path / "m.jsonl", [0] * 4))
    for s, r, m in zip(single, routed, mixed, strict=True):
        assert float(r["loss"]) == pytest.approx(float(s["loss"]), rel=1e-6)
        assert float(m["loss"]) == pytest.approx(float(s["loss"]), rel=1e-4)
    assert "routed per example" in (tmp_path / "routed" / "results.md").read_text()


def test_routing_needs_a_teacher_field_naming_a_teacher_and_chat_data(pair, tmp_path):
    d, a, b = pair
    with pytest.raises(ValueError, match=r"s.jsonl:2: 'teacher' is 'nobody'"):
        _run(d, tmp_path / "x", teachers=(a, b), data=_chat(tmp_path / "s.jsonl", [0, "nobody", 1, 0]))
    (tmp_path / "t.txt").write_text("\n\n".join(TEXT))
    with pytest.raises(ValueError, match="give --teacher-weights to mix"):
        _run(d, tmp_path / "y", teachers=(a, b), data=str(tmp_path / "t.txt"))
    from distill.lm.train import LMTrainConfig

    with pytest.raises(ValueError, match="one weight per --teachers entry"):
        LMTrainConfig(student="s", data="x", teachers=(a, b), teacher_weights=(1.0,))


def _store(d, out, teacher=None, **kw):
    from distill.lm.capture import CaptureConfig, run

    (d / "corpus.txt").write_text("\n\n".join(TEXT[:12]))
    settings = dict(data=str(d / "corpus.txt"), window=16, batch_size=4, shard_windows=4, out=str(out)) | kw
    if teacher is not None:
        settings["teacher"] = teacher
    return run(CaptureConfig(**settings))


def test_a_mixture_store_holds_the_mixtures_distribution(pair, tmp_path):
    """`lm capture --teachers A B --teacher-weights 0.7 0.3`, raw with k = V: the stored log-probabilities
    are those of 0.7 p_A + 0.3 p_B (mix_teachers) at the capture temperature, within fp16 rounding."""
    from distill.targets.store import TargetStore

    d, a, b = pair
    (ta, tb) = _models(a, b)
    V = ta.config.vocab_size
    _store(d, tmp_path / "mix", teachers=(a, b), teacher_weights=(0.7, 0.3), top_k=V, encoding="raw",
           temperature=2.0)
    store = TargetStore(tmp_path / "mix")
    assert store.manifest.teacher.startswith("mix(") and "× 0.7" in store.manifest.teacher
    ids, t = store[1]
    with torch.no_grad():
        want = (mix_teachers([ta(ids[None]).logits, tb(ids[None]).logits], temperature=2.0, weights=[0.7, 0.3])[0]
                / 2.0).log_softmax(-1)
    got = torch.full_like(want, float("-inf")).scatter(-1, t.indices, t.logprobs)
    torch.testing.assert_close(got, want, atol=2e-3, rtol=2e-3)
    # another mixture is another teacher: resuming into this store is refused by name
    with pytest.raises(Exception, match="teacher weights"):
        _store(d, tmp_path / "mix", teachers=(a, b), teacher_weights=(0.5, 0.5), top_k=V, encoding="raw",
               temperature=2.0)


def test_several_stores_train_each_window_on_its_own_teacher(pair, tmp_path):
    from distill.lm.train import LMTrainConfig, run
    from distill.targets.store import StoreError, StoreSet, TargetStore

    d, a, b = pair
    _store(d, tmp_path / "a", a, top_k=8)
    _store(d, tmp_path / "b", b, top_k=8)
    both = StoreSet([tmp_path / "a", tmp_path / "b"])
    sa, sb = TargetStore(tmp_path / "a"), TargetStore(tmp_path / "b")
    assert len(both) == len(sa) + len(sb) and both.store_of(len(sa)) == 1
    for i, (store, j) in {0: (sa, 0), len(sa) - 1: (sa, len(sa) - 1), len(sa) + 2: (sb, 2)}.items():
        (x, t), (y, u) = both[i], store[j]
        assert torch.equal(x, y) and torch.equal(t.indices, u.indices) and torch.equal(t.logprobs, u.logprobs)
    assert not torch.equal(sa[0][1].indices, sb[0][1].indices)  # two teachers: other targets for the same window
    res = run(LMTrainConfig(student=str(d / "student"), targets=(str(tmp_path / "a"), str(tmp_path / "b")),
                            window=16, batch_size=4, steps=3, lr=1e-3, warmup=1, checkpoint_every=0,
                            tensorboard=False, out=str(tmp_path / "run")))
    assert res["completed"] and json.loads((tmp_path / "run" / "results.json").read_text())["config"]["targets"] == [
        str(tmp_path / "a"), str(tmp_path / "b")]
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert len(rows) == 3 and all(float(r["divergence"]) > 0 for r in rows)
    _store(d, tmp_path / "c", b, top_k=4)
    with pytest.raises(StoreError, match="differ in k"):
        StoreSet([tmp_path / "a", tmp_path / "c"])


def test_a_mixture_of_two_tokenizers_is_refused(pair, tmp_path):
    d, a, _ = pair
    odd = make_llama(tmp_path / "odd", make_tokenizer(TEXT, vocab_size=150), layers=1)
    with pytest.raises(ValueError, match="another tokenizer"):
        _store(d, tmp_path / "x", teachers=(a, str(odd)))

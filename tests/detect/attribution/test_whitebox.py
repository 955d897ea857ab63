import numpy as np
import pytest
import torch
from scipy import stats

from distill.detect.attribution.whitebox import (
    WhiteBoxLineageConfig,
    generate_own,
    reference_t_pvalue,
    score,
    teacher_forced,
)

V = 24


def tiny(seed: int, hidden: int = 16):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=V, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    m = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # sharper than the default init, so models differ clearly
        m.lm_head.weight.mul_(30)
    return m


class _KD:
    """Forward KL of the student to the teacher on random token windows, through the package's one loop."""

    def __init__(self, student, teacher, seed):
        self.student, self.teacher, self.seed = student, teacher, seed

    def micro_batches(self, step):
        g = torch.Generator().manual_seed(self.seed * 1000 + step)
        return [torch.randint(0, V, (16, 12), generator=g)]

    def loss(self, x, step):
        from distill.losses import forward_kl

        with torch.no_grad():
            t = self.teacher(input_ids=x).logits
        return forward_kl(self.student(input_ids=x).logits, t), {}

    def save(self, folder):
        pass

    def load(self, folder):
        pass


def distilled(teacher, steps=60, seed=0):
    from accelerate import Accelerator

    from distill.train import loop

    student = tiny(100 + seed)
    acc = Accelerator(cpu=True)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model, opt = acc.prepare(student, opt)
    loop.run(_KD(model, teacher, seed), model=model, optimizer=opt, scheduler=sched, accelerator=acc,
             spec=loop.LoopSpec(steps=steps, desc="kd"), ckpt=None, settings=None)
    return acc.unwrap_model(model).eval()


def prompts(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, V, 4).tolist() for _ in range(n)]


def test_kl_is_zero_against_itself_and_generation_is_seeded():
    m, p = tiny(0), prompts(6)
    g = generate_own(m, p, 5, 1.0, seed=3)
    assert g == generate_own(m, p, 5, 1.0, seed=3) and all(len(x) == 5 for x in g)
    kl, top1 = teacher_forced(m, m, p, g)
    assert np.allclose(kl, 0, atol=1e-5) and np.allclose(top1, 1.0)
    kl2, _ = teacher_forced(tiny(1), m, p, g)
    assert (kl2 > 0.05).all()


def test_distilled_suspect_is_flagged_for_its_teacher_only():
    A, B = tiny(1), tiny(2)
    suspect = distilled(A)
    refs = {f"r{i}": tiny(10 + i) for i in range(6)}
    rows = score(suspect, {"A": A, "B": B}, refs, prompts(12), max_new_tokens=6, seed=0)
    by = {r["candidate"]: r for r in rows}
    assert by["A"]["p_holm"] < 0.01 and by["A"]["kl_candidate"] < 0.5 * by["A"]["kl_references"]
    assert by["A"]["top1_candidate"] > by["A"]["top1_references"]
    assert by["B"]["p_value"] >= 0.05
    again = score(suspect, {"A": A, "B": B}, refs, prompts(12), max_new_tokens=6, seed=0)
    assert [r["p_value"] for r in again] == [r["p_value"] for r in rows]


def test_reference_t_pvalues_are_uniform_under_a_null_of_unrelated_models():
    """Suspect, candidate and 3 references: independent random models (the null). 30 independent draws."""
    ps = []
    for k in range(30):
        ms = [tiny(1000 + 10 * k + j, hidden=8) for j in range(5)]
        rows = score(ms[0], {"c": ms[1]}, {f"r{j}": ms[j] for j in range(2, 5)}, prompts(4, k), max_new_tokens=3,
                     seed=k)
        ps.append(rows[0]["p_value"])
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    assert np.mean(np.array(ps) < 0.05) <= 0.15


def test_reference_t_pvalue_values():
    assert reference_t_pvalue(0.0, np.array([-1.0, 0.0, 1.0])) == pytest.approx(0.5)
    # (3 − 0) / (1 · √(4/3)) with 2 degrees of freedom
    assert reference_t_pvalue(3.0, np.array([-1.0, 0.0, 1.0])) == pytest.approx(
        stats.t.sf(3 / np.sqrt(4 / 3), 2))


def test_config_needs_three_references():
    with pytest.raises(ValueError, match="references"):
        WhiteBoxLineageConfig(suspect="s", candidates=("c",), references=("a", "b"))


def test_kv_cached_generation_gives_the_uncached_tokens():
    m = tiny(2)
    p = prompts(7, seed=4) + [[1, 2, 3, 4, 5, 6]]  # two prompt lengths: two batches
    for temperature in (0.0, 1.0):
        cached = generate_own(m, p, 9, temperature, seed=5, batch=3)
        assert cached == generate_own(m, p, 9, temperature, seed=5, batch=3, cache=False)
        assert all(len(g) == 9 for g in cached)
    assert generate_own(m, p, 9, 1.0, seed=5) != generate_own(m, p, 9, 1.0, seed=6)

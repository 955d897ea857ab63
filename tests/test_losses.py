"""Tests for distill.losses: reference values, equivalences between variants, properties.

The reference implementation below is written straight from the equations with
autograd in float64 and shares no code with the package; the package's analytic,
chunked gradients are checked against it and against finite differences (gradcheck).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from distill import losses
from distill.losses import (
    TopKTargets,
    forward_kl,
    generalized_jsd,
    hinton_kd,
    reverse_kl,
    skew_kl,
    topk_targets,
    tvd,
)

# ----------------------------------------------------------------------------- reference


def _kl(a_logp, b_logp):
    """Σ a (log a − log b) per row, with 0·log 0 = 0."""
    a = a_logp.exp()
    return torch.where(a > 0, a * (a_logp - b_logp), torch.zeros_like(a)).sum(-1)


def ref_rows(name, s, t, beta=0.5, alpha=0.1):
    """Per-row divergence from student/teacher log-probs s, t (n, m)."""
    if name == "forward_kl":
        return _kl(t, s)
    if name == "reverse_kl":
        return _kl(s, t)
    if name == "jsd":
        m = torch.log((1 - beta) * s.exp() + beta * t.exp())
        return beta * _kl(t, m) + (1 - beta) * _kl(s, m)
    if name == "skew_kl":
        return _kl(t, torch.log(alpha * t.exp() + (1 - alpha) * s.exp()))
    if name == "skew_rkl":
        return _kl(s, torch.log(alpha * s.exp() + (1 - alpha) * t.exp()))
    if name == "tvd":
        return 0.5 * (s.exp() - t.exp()).abs().sum(-1)
    raise KeyError(name)


def ref_dense(name, zs, zt, T=1.0, labels=None, **kw):
    V = zs.shape[-1]
    s = (zs.reshape(-1, V).double() / T).log_softmax(-1)
    t = (zt.reshape(-1, V).double() / T).log_softmax(-1)
    rows = ref_rows(name, s, t, **kw)
    if labels is not None:
        keep = labels.reshape(-1) != -100
        return rows[keep].sum() / max(int(keep.sum()), 1)
    return rows.mean()


def ref_sparse(name, zs, ids, logp, tail, T=1.0, **kw):
    """Coarsened reference: k top tokens plus one tail bin, built by explicit sums."""
    V = zs.shape[-1]
    q = (zs.reshape(-1, V).double() / T).softmax(-1)
    ids = ids.reshape(q.shape[0], -1)
    top = q.gather(-1, ids)
    s = torch.cat([top, (1 - top.sum(-1, keepdim=True))], -1).clamp_min(1e-300).log()
    t = torch.cat([logp.reshape(q.shape[0], -1).double(), tail.reshape(-1, 1).double().log()], -1) / T
    t = t.log_softmax(-1)
    return ref_rows(name, s, t, **kw).mean()


def call(name, zs, zt, **kw):
    fn = {
        "forward_kl": forward_kl,
        "reverse_kl": reverse_kl,
        "jsd": generalized_jsd,
        "skew_kl": skew_kl,
        "skew_rkl": lambda a, b, **k: skew_kl(a, b, reverse=True, **k),
        "tvd": tvd,
    }[name]
    return fn(zs, zt, **kw)


NAMES = ["forward_kl", "reverse_kl", "jsd", "skew_kl", "skew_rkl", "tvd"]


def _logits(*shape, seed=0, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


# --------------------------------------------------------------------- reference values

# Two classes, q = softmax([0, 0]) = (.5, .5) and p = softmax([ln 3, 0]) = (.75, .25).
# Values computed by hand from the definitions, e.g. KL(p‖q) = .75 ln 1.5 + .25 ln .5;
# JSD(.5) uses m = (.625, .375); skew KL(α=.1) uses m = .1 p + .9 q = (.525, .475).
HAND = {
    "forward_kl": 0.13081203594113697,
    "reverse_kl": 0.14384103622589042,
    "jsd": 0.033822075568605205,
    "skew_kl": 0.10704273641095058,
    "skew_rkl": 0.11313672216156864,
    "tvd": 0.25,
}


@pytest.mark.parametrize("name", NAMES)
def test_hand_computed_values(name):
    zs = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    zt = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)
    assert call(name, zs, zt).item() == pytest.approx(HAND[name], rel=1e-12)
    # fp32 input: same value to fp32 precision
    assert call(name, zs.float(), zt.float()).item() == pytest.approx(HAND[name], rel=1e-5)


def test_temperature_applies_to_both_sides():
    # logits [ln 9, 0] at T = 2 are [ln 3, 0] at T = 1 → p = (.75, .25); student [0, 0] stays uniform.
    zs = torch.tensor([[0.0, 0.0]])
    zt = torch.tensor([[math.log(9.0), 0.0]])
    assert forward_kl(zs, zt, temperature=2.0).item() == pytest.approx(HAND["forward_kl"], rel=1e-6)


def test_jsd_other_beta_hand_value():
    # β = .9: m = .9 p + .1 q = (.725, .275); .9 KL(p‖m) + .1 KL(q‖m), evaluated by hand.
    zs = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    zt = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)
    assert generalized_jsd(zs, zt, beta=0.9).item() == pytest.approx(0.012752429141268569, rel=1e-12)


def test_hinton_kd_hand_value():
    # Two examples, 2 classes, T = 2, α = .3. The soft term at T=2 is KL((.75,.25) ‖ (.5,.5)) for
    # example 1 and 0 for example 2 (identical logits); CE(z=[0,0], y=0) = ln 2, CE([ln 2, 0], y=1) = ln 3.
    zs = torch.tensor([[0.0, 0.0], [math.log(2.0), 0.0]])
    zt = torch.tensor([[math.log(9.0), 0.0], [math.log(2.0), 0.0]])
    y = torch.tensor([0, 1])
    expected = 0.3 * (math.log(2) + math.log(3)) / 2 + 0.7 * 4 * (HAND["forward_kl"] + 0) / 2
    assert hinton_kd(zs, zt, y, temperature=2.0, ce_weight=0.3).item() == pytest.approx(expected, rel=1e-6)


def test_hinton_kd_matches_seed_reference_code():
    # The seeds' reference: α·CE + (1−α)·T²·kl_div(log_softmax(s/T), softmax(t/T), "batchmean").
    zs, zt = _logits(16, 10, seed=1, dtype=torch.float32), _logits(16, 10, seed=2, dtype=torch.float32)
    y = torch.randint(0, 10, (16,), generator=torch.Generator().manual_seed(3))
    T, a = 4.0, 0.25
    soft = F.kl_div(F.log_softmax(zs / T, -1), F.softmax(zt / T, -1), reduction="batchmean") * T * T
    expected = a * F.cross_entropy(zs, y) + (1 - a) * soft
    assert hinton_kd(zs, zt, y, temperature=T, ce_weight=a).item() == pytest.approx(expected.item(), rel=1e-5)


# ------------------------------------------------------------------ against the reference


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("T", [1.0, 2.5])
def test_dense_matches_reference_value_and_grad(name, T):
    zs = _logits(3, 5, 11, seed=4).requires_grad_()
    zt = _logits(3, 5, 11, seed=5)
    labels = torch.randint(0, 11, (3, 5), generator=torch.Generator().manual_seed(6))
    labels[0, :3] = -100
    ours = call(name, zs, zt, temperature=T, labels=labels)
    (g_ours,) = torch.autograd.grad(ours, zs)
    ref = ref_dense(name, zs, zt, T=T, labels=labels)
    (g_ref,) = torch.autograd.grad(ref, zs)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("T", [1.0, 2.0])
def test_sparse_matches_coarsened_reference(name, T):
    zs = _logits(6, 20, seed=7).requires_grad_()
    tgt = topk_targets(_logits(6, 20, seed=8), k=5)
    ours = call(name, zs, tgt, temperature=T)
    (g_ours,) = torch.autograd.grad(ours, zs)
    tail = 1 - tgt.logprobs.exp().sum(-1)
    ref = ref_sparse(name, zs, tgt.indices, tgt.logprobs, tail, T=T)
    (g_ref,) = torch.autograd.grad(ref, zs)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-7, atol=1e-12)


# ------------------------------------------------------------------------ equivalences


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_chunked_equals_plain(name, chunk):
    zs = _logits(2, 9, 13, seed=9, dtype=torch.float32).requires_grad_()
    zt = _logits(2, 9, 13, seed=10, dtype=torch.float32)
    labels = torch.zeros(2, 9, dtype=torch.long)
    labels[1, 4:] = -100
    plain = call(name, zs, zt, labels=labels, temperature=1.5)
    (g_plain,) = torch.autograd.grad(plain, zs)
    chunked = call(name, zs, zt, labels=labels, temperature=1.5, chunk_size=chunk)
    (g_chunk,) = torch.autograd.grad(chunked, zs)
    torch.testing.assert_close(chunked, plain, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(g_chunk, g_plain, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("T", [1.0, 3.0])
def test_sparse_full_k_equals_dense(name, T):
    V = 17
    zs = _logits(4, 3, V, seed=11).requires_grad_()
    zt = _logits(4, 3, V, seed=12)
    dense = call(name, zs, zt, temperature=T)
    (g_dense,) = torch.autograd.grad(dense, zs)
    sparse = call(name, zs, topk_targets(zt, k=V), temperature=T, chunk_size=5)
    (g_sparse,) = torch.autograd.grad(sparse, zs)
    torch.testing.assert_close(sparse, dense, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_sparse, g_dense, rtol=1e-7, atol=1e-12)


def test_sparse_is_lower_bound_of_dense():
    # Data processing inequality: coarsening to k+1 bins can only shrink an f-divergence.
    zs, zt = _logits(8, 50, seed=13), _logits(8, 50, seed=14)
    for name in NAMES:
        dense = call(name, zs, zt).item()
        for k in (1, 5, 20):
            assert call(name, zs, topk_targets(zt, k=k)).item() <= dense + 1e-12, (name, k)


def test_renormalized_topk_targets_have_zero_tail():
    zt = _logits(3, 12, seed=15)
    tgt = topk_targets(zt, k=4, keep_tail=False)
    torch.testing.assert_close(tgt.logprobs.exp().sum(-1), torch.ones(3, dtype=torch.float64))
    zs = _logits(3, 12, seed=16)
    # Forward KL against a zero-tail target ignores the student's tail bin (0 · log 0 = 0): finite.
    assert torch.isfinite(forward_kl(zs, tgt))
    # Reverse KL puts student mass where the teacher has (floored) zero: Q_tail · (log Q_tail − log tiny).
    q = zs.softmax(-1)
    q_tail = 1 - q.gather(-1, tgt.indices).sum(-1)
    lower = (q_tail * (q_tail.log() - math.log(torch.finfo(torch.float64).tiny))).mean()
    assert reverse_kl(zs, tgt).item() >= lower.item() > 100


# ------------------------------------------------------------------------- properties


@pytest.mark.parametrize("name", NAMES)
def test_identical_inputs_give_zero(name):
    z = _logits(5, 30, seed=17, dtype=torch.float32).requires_grad_()
    loss = call(name, z, z.detach())
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert z.grad.abs().max().item() < 1e-6


def test_jsd_endpoints_equal_kls():
    zs, zt = _logits(4, 9, seed=18), _logits(4, 9, seed=19)
    torch.testing.assert_close(generalized_jsd(zs, zt, beta=0.0), forward_kl(zs, zt))
    torch.testing.assert_close(generalized_jsd(zs, zt, beta=1.0), reverse_kl(zs, zt))


def test_skew_zero_equals_kls():
    zs, zt = _logits(4, 9, seed=20), _logits(4, 9, seed=21)
    torch.testing.assert_close(skew_kl(zs, zt, skew=0.0), forward_kl(zs, zt))
    torch.testing.assert_close(skew_kl(zs, zt, skew=0.0, reverse=True), reverse_kl(zs, zt))


def test_symmetric_divergences_and_bounds():
    zs, zt = _logits(6, 9, seed=22, scale=8), _logits(6, 9, seed=23, scale=8)
    torch.testing.assert_close(generalized_jsd(zs, zt), generalized_jsd(zt, zs))
    torch.testing.assert_close(tvd(zs, zt), tvd(zt, zs))
    assert 0 < generalized_jsd(zs, zt).item() <= math.log(2)
    assert 0 < tvd(zs, zt).item() <= 1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sparse", [False, True])
def test_gradcheck_float64(name, sparse):
    zs = _logits(2, 3, 6, seed=24).requires_grad_()
    zt = _logits(2, 3, 6, seed=25)
    target = topk_targets(zt, k=3) if sparse else zt
    labels = torch.tensor([[0, -100, 1], [2, 3, -100]])
    assert torch.autograd.gradcheck(
        lambda x: call(name, x, target, labels=labels, temperature=1.7, chunk_size=2), (zs,)
    )


def test_backward_scales_with_grad_output():
    zs = _logits(3, 7, seed=26).requires_grad_()
    zt = _logits(3, 7, seed=27)
    (g1,) = torch.autograd.grad(forward_kl(zs, zt), zs)
    (g3,) = torch.autograd.grad(3.0 * forward_kl(zs, zt), zs)
    torch.testing.assert_close(g3, 3 * g1)


# -------------------------------------------------------------------------------- masking


def test_all_masked_returns_zero_not_nan():
    zs = _logits(2, 4, 5, seed=28, dtype=torch.float32).requires_grad_()
    labels = torch.full((2, 4), -100)
    for name in NAMES:
        loss = call(name, zs, _logits(2, 4, 5, seed=29, dtype=torch.float32), labels=labels)
        loss.backward()
        assert loss.item() == 0.0 and not torch.isnan(loss)
        assert torch.count_nonzero(zs.grad) == 0
        zs.grad = None


def test_masked_positions_have_no_effect():
    zs, zt = _logits(2, 6, 8, seed=30), _logits(2, 6, 8, seed=31)
    labels = torch.ones(2, 6, dtype=torch.long)
    labels[:, -2:] = -100
    zs2 = zs.clone()
    zs2[:, -2:] += 100.0  # change only masked positions
    zs.requires_grad_()
    loss = generalized_jsd(zs, zt, labels=labels)
    assert loss.item() == pytest.approx(generalized_jsd(zs2, zt, labels=labels).item(), rel=1e-12)
    loss.backward()
    assert torch.count_nonzero(zs.grad[:, -2:]) == 0
    # and the mean is over the 8 kept positions, not all 12
    assert loss.item() == pytest.approx(generalized_jsd(zs[:, :4], zt[:, :4]).item(), rel=1e-12)


# ---------------------------------------------------------------------------------- dtypes


def test_bf16_inputs_compute_in_fp32():
    zs32, zt32 = _logits(4, 33, seed=32, dtype=torch.float32), _logits(4, 33, seed=33, dtype=torch.float32)
    zs = zs32.bfloat16().requires_grad_()
    loss = generalized_jsd(zs, zt32.bfloat16())
    loss.backward()
    assert loss.dtype == torch.float32 and zs.grad.dtype == torch.bfloat16
    ref = generalized_jsd(zs32.bfloat16().float(), zt32.bfloat16().float())
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)


# ---------------------------------------------------------------------------------- errors


def test_vocab_mismatch_names_both_sizes():
    with pytest.raises(ValueError, match=r"V=152064.*V=151936"):
        forward_kl(torch.zeros(2, 152064), torch.zeros(2, 151936))


def test_sparse_ids_out_of_vocab():
    tgt = TopKTargets(torch.tensor([[0, 12]]), torch.tensor([[-0.1, -2.0]]))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        forward_kl(torch.zeros(1, 10), tgt)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_raise(bad):
    zs, zt = torch.zeros(2, 4), torch.zeros(2, 4)
    zs[1, 2] = bad
    with pytest.raises(ValueError, match="student_logits contains NaN or Inf"):
        generalized_jsd(zs, zt)
    with pytest.raises(ValueError, match="teacher_logits contains NaN or Inf"):
        generalized_jsd(zt, zs)


@pytest.mark.parametrize(
    "call_, match",
    [
        (lambda z: forward_kl(z, z, temperature=0), r"temperature must be .*> 0, got 0"),
        (lambda z: forward_kl(z, z, temperature=-1.0), r"temperature .* got -1.0"),
        (lambda z: generalized_jsd(z, z, beta=1.5), r"beta must be in \[0, 1\], got 1.5"),
        (lambda z: generalized_jsd(z, z, beta=-0.1), r"beta must be in \[0, 1\], got -0.1"),
        (lambda z: skew_kl(z, z, skew=1.0), r"skew must be in \[0, 1\), got 1.0"),
        (lambda z: hinton_kd(z, z, torch.zeros(3, dtype=torch.long), temperature=2.0, ce_weight=2.0), r"ce_weight must be in \[0, 1\], got 2.0"),
        (lambda z: hinton_kd(z, z, None, temperature=2.0, ce_weight=0.5), r"needs labels when ce_weight > 0"),
        (lambda z: forward_kl(z, z, chunk_size=0), r"chunk_size must be a positive int"),
        (lambda z: forward_kl(z, z[:2]), r"must have the same shape"),
        (lambda z: forward_kl(z, z, labels=torch.zeros(2, dtype=torch.long)), r"labels must have shape \(3,\)"),
    ],
)
def test_bad_parameters_name_parameter_value_and_range(call_, match):
    with pytest.raises(ValueError, match=match):
        call_(torch.zeros(3, 4))


# ------------------------------------------------------------------------------- helpers


def test_mix_teachers_is_exact_mixture_at_temperature():
    zs = [_logits(5, 7, seed=40 + i, dtype=torch.float32) for i in range(3)]
    w = [0.5, 0.3, 0.2]
    T = 4.0
    mixed = losses.mix_teachers(zs, temperature=T, weights=w)
    expected = sum(wi * (z / T).softmax(-1) for wi, z in zip(w, zs, strict=True))
    torch.testing.assert_close((mixed / T).softmax(-1), expected, rtol=1e-5, atol=1e-7)


def test_mix_teachers_rejects_bad_weights():
    z = [torch.zeros(2, 3), torch.zeros(2, 3)]
    with pytest.raises(ValueError, match="weights must be 2 non-negative"):
        losses.mix_teachers(z, temperature=1.0, weights=[1.0, -1.0])


def test_old_argument_names_still_work_with_a_deprecation_warning():
    zs, zt = torch.randn(3, 7), torch.randn(3, 7)
    y = torch.tensor([0, 3, 6])
    with pytest.warns(DeprecationWarning, match=r"hinton_kd\(alpha=…\) is now hinton_kd\(ce_weight=…\)"):
        old = hinton_kd(zs, zt, y, temperature=2.0, alpha=0.3)
    assert old.item() == hinton_kd(zs, zt, y, temperature=2.0, ce_weight=0.3).item()
    with pytest.warns(DeprecationWarning, match="skew_kl"):
        torch.testing.assert_close(skew_kl(zs, zt, alpha=0.2), skew_kl(zs, zt, skew=0.2))
    with pytest.raises(TypeError, match="both ce_weight= and its old name alpha="):
        hinton_kd(zs, zt, y, temperature=2.0, alpha=0.3, ce_weight=0.5)
    with pytest.raises(TypeError, match="needs ce_weight"):
        hinton_kd(zs, zt, y, temperature=2.0)


def test_every_registered_divergence_describes_itself_and_is_reachable_from_the_cli():
    import dataclasses
    import typing

    from distill.lm.names import Divergence
    from distill.lm.train import LMTrainConfig
    from distill.losses import DIVERGENCES

    options = {f.name for f in dataclasses.fields(LMTrainConfig)}
    assert set(typing.get_args(Divergence)) == set(DIVERGENCES)  # every entry is a --loss choice
    zs, zt = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    for name, entry in DIVERGENCES.items():
        assert entry.summary and set(entry.params) <= options, name  # each parameter is an lm train option
        value = entry(zs, zt, **{p: 0.3 for p in entry.params})
        assert value.ndim == 0 and value.item() >= 0, name
    # the entries that accept sampled targets are exactly those the loss engine accepts them for
    from distill.losses import sampled_targets
    draws = sampled_targets(zt, n=4, generator=torch.Generator().manual_seed(0))
    for entry in DIVERGENCES.values():
        if entry.sampled_targets:
            entry(zs, draws, **{p: 0.3 for p in entry.params})
        else:
            with pytest.raises(ValueError, match="SampledTargets"):
                entry(zs, draws, **{p: 0.3 for p in entry.params})


def test_the_mixture_of_one_teacher_is_that_teachers_logits_bit_for_bit():
    from distill.losses import mix_teachers

    z = torch.randn(4, 10)
    assert mix_teachers([z], temperature=3.0) is z  # not T·log_softmax(z/T): the same softmax, other rounding

"""Sampled (Sparse Logit Sampling) targets: exact cases, unbiasedness, consistency, refusals."""

import math

import pytest
import torch

from distill.losses import (
    SampledTargets,
    forward_kl,
    generalized_jsd,
    reverse_kl,
    sample_counts,
    sampled_targets,
    topk_targets,
)


def _grad(loss_fn, z, targets, **kw):
    z = z.detach().clone().requires_grad_(True)
    loss = loss_fn(z, targets, **kw)
    (g,) = torch.autograd.grad(loss, z)
    return loss.detach(), g


def test_counts_equal_to_the_distribution_give_the_dense_loss_exactly():
    # p = (1/2, 1/4, 1/4): 4 draws with counts (2, 1, 1) make p̂ = p, so the sampled estimate
    # is the dense forward KL itself, value and gradient (with the teacher's log-probs given).
    p = torch.tensor([[0.5, 0.25, 0.25]], dtype=torch.float64)
    z_t = p.log()
    z_s = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64)
    tgt = SampledTargets(torch.tensor([[0, 1, 2, 2]]), torch.tensor([[2, 1, 1, 0]]),
                         p.log()[:, [0, 1, 2, 2]])
    dense, g_dense = _grad(forward_kl, z_s, z_t)
    sparse, g_sparse = _grad(forward_kl, z_s, tgt)
    torch.testing.assert_close(sparse, dense)
    torch.testing.assert_close(g_sparse, g_dense)
    # without log-probs the value is the cross-entropy H(p, q) = KL + H(p); same gradient
    ce, g_ce = _grad(forward_kl, z_s, SampledTargets(tgt.indices, tgt.counts))
    h_p = -(p * p.log()).sum()
    torch.testing.assert_close(ce, dense + h_p)
    torch.testing.assert_close(g_ce, g_dense)
    # jsd with β = 0 is forward KL and accepts them too
    torch.testing.assert_close(generalized_jsd(z_s, tgt, beta=0.0), dense)


def test_sample_counts_are_sorted_distinct_and_sum_to_n():
    g = torch.Generator().manual_seed(0)
    logp = (torch.randn(5, 7, 30, generator=g) * 2).log_softmax(-1)
    ids, counts = sample_counts(logp, 16, g)
    assert ids.shape == counts.shape == (5, 7, 16)
    assert torch.equal(counts.sum(-1), torch.full((5, 7), 16))
    assert bool((ids[..., 1:] >= ids[..., :-1]).all())  # ascending, padding repeats the last id
    real = counts > 0
    assert bool((ids[..., 1:][real[..., 1:]] > ids[..., :-1][real[..., 1:]]).all())  # distinct where counted
    assert not bool((real[..., 1:] & ~real[..., :-1]).any())  # padding only at the end


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sampled_gradient_is_an_unbiased_estimate_of_the_dense_one(temperature):
    # R independent draws of n = 4 tokens for the same position; each replicate's gradient is an
    # estimate of the dense gradient. Their mean must lie within 5 standard errors of it in every
    # coordinate (the standard error from the replicates' own spread), while top-k targets are
    # biased well beyond that (the test can fail).
    R, V, n = 4000, 12, 4
    g = torch.Generator().manual_seed(1)
    z_t = torch.randn(1, V, generator=g, dtype=torch.float64) * 2
    z_s = torch.randn(1, V, generator=g, dtype=torch.float64)
    dense, g_dense = _grad(forward_kl, z_s, z_t, temperature=temperature)
    tgt = sampled_targets(z_t.expand(R, V), n, temperature=temperature, generator=g)
    loss, g_rows = _grad(forward_kl, z_s.expand(R, V), tgt, temperature=temperature)
    g_rows = g_rows * R  # the loss is a mean over the R rows
    se = g_rows.std(0) / math.sqrt(R)
    assert bool(((g_rows.mean(0) - g_dense[0]).abs() <= 5 * se + 1e-12).all())
    # the loss value: mean over draws of Σ p̂ (log p − log q), also unbiased for KL
    s = (z_s / temperature).log_softmax(-1)[0]
    per_row = (tgt.counts / n * (tgt.logprobs - s[tgt.indices])).sum(-1)
    torch.testing.assert_close(loss, per_row.mean())
    assert abs(per_row.mean() - dense) <= 5 * per_row.std() / math.sqrt(R)
    _, g_top = _grad(forward_kl, z_s, topk_targets(z_t, 2), temperature=temperature)
    assert bool(((g_top[0] - g_dense[0]).abs() > 5 * se).any())


@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_many_draws_approach_the_dense_loss(temperature):
    # At T ≠ 1 the draws come from p (t = 1) and are reweighted to p_T (self-normalized
    # importance sampling): consistent, so with 200,000 draws close to dense.
    g = torch.Generator().manual_seed(2)
    z_t = torch.randn(3, 20, generator=g, dtype=torch.float64) * 2
    z_s = torch.randn(3, 20, generator=g, dtype=torch.float64)
    dense, g_dense = _grad(forward_kl, z_s, z_t, temperature=temperature)
    sampled, g_s = _grad(forward_kl, z_s, sampled_targets(z_t, 200_000, generator=g), temperature=temperature)
    torch.testing.assert_close(sampled, dense, atol=0.02, rtol=0.02)
    torch.testing.assert_close(g_s, g_dense, atol=0.005, rtol=0)


def test_chunked_masked_sampled_equals_plain():
    g = torch.Generator().manual_seed(3)
    z_t = torch.randn(2, 5, 40, generator=g)
    z_s = torch.randn(2, 5, 40, generator=g)
    tgt = sampled_targets(z_t, 8, generator=g)
    labels = torch.zeros(2, 5, dtype=torch.long)
    labels[1, 2:] = -100
    a, ga = _grad(forward_kl, z_s, tgt, labels=labels)
    b, gb = _grad(forward_kl, z_s, tgt, labels=labels, chunk_size=3)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(ga, gb)
    assert bool((ga[1, 2:] == 0).all())
    # the masked mean counts only the kept rows
    keep = labels.reshape(-1) != -100
    flat = SampledTargets(tgt.indices.reshape(10, -1)[keep], tgt.counts.reshape(10, -1)[keep],
                          tgt.logprobs.reshape(10, -1)[keep])
    torch.testing.assert_close(forward_kl(z_s.reshape(10, -1)[keep], flat), a)


def test_sampled_targets_refuse_other_divergences_and_bad_inputs():
    z = torch.randn(2, 6)
    tgt = sampled_targets(torch.randn(2, 6), 4)
    with pytest.raises(ValueError, match="forward KL"):
        reverse_kl(z, tgt)
    with pytest.raises(ValueError, match="forward KL"):
        generalized_jsd(z, tgt, beta=0.5)
    with pytest.raises(ValueError, match="need their logprobs"):
        forward_kl(z, SampledTargets(tgt.indices, tgt.counts), temperature=2.0)
    with pytest.raises(ValueError, match="positive sum"):
        forward_kl(z, SampledTargets(tgt.indices, torch.zeros_like(tgt.counts)))
    with pytest.raises(ValueError, match=r"must lie in \[0, 6\)"):
        forward_kl(z, SampledTargets(tgt.indices + 6, tgt.counts))

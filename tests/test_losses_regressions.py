"""Regression tests for the loss bugs of issue 13; each failed on the code before its fix.

Reference values are computed here in float64 straight from the definitions (no package
code), as the comment at each one says.
"""

import math

import pytest
import torch

from distill.losses import TopKTargets, forward_kl, generalized_jsd, reverse_kl, topk_targets

NAMES = ["forward_kl", "reverse_kl", "jsd", "skew_kl", "skew_rkl", "tvd"]


def _logits(*shape, seed=0, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def _ref_forward_kl(zs, zt, T):
    """KL(p_T ‖ q_T) per position, mean, in float64 from the definition."""
    s = (zs.double() / T).log_softmax(-1)
    t = (zt.double() / T).log_softmax(-1)
    return (t.exp() * (t - s)).sum(-1).mean()


# ------------------------------------------------------------- bug 1: capture temperature


def test_topk_targets_captured_at_t_are_not_tempered_twice():
    # A store captured at t = 2 holds log softmax(z / 2). Trained at T = 2 with k = V, the loss
    # must equal the dense loss at T = 2 (reference: float64 from the definition). Before the
    # fix the targets could not carry t and their log-probs were divided by T again (as if
    # p ∝ softmax(z / 4)): 1.17068 here instead of 1.63685.
    V = 11
    zs, zt = _logits(5, V, seed=1), _logits(5, V, seed=2)
    logp2 = (zt / 2).log_softmax(-1)
    ids = torch.arange(V).expand(5, V)
    stored = TopKTargets(ids, logp2.gather(-1, ids), temperature=2.0)
    ref = _ref_forward_kl(zs, zt, 2.0)
    assert forward_kl(zs, stored, temperature=2.0).item() == pytest.approx(ref.item(), rel=1e-12)
    # The same targets re-tempered from t = 2 to T = 1 and T = 4 (exact: k = V, no tail).
    for T in (1.0, 4.0):
        assert forward_kl(zs, stored, temperature=T).item() == pytest.approx(
            _ref_forward_kl(zs, zt, T).item(), rel=1e-10), T
    # topk_targets records the temperature it tempered at.
    assert topk_targets(zt, k=3, temperature=2.0).temperature == 2.0


@pytest.mark.parametrize("name", NAMES)
def test_topk_capture_temperature_equals_dense_for_every_divergence(name):
    from distill.losses import DIVERGENCES

    V = 9
    zs = _logits(2, 3, V, seed=3).requires_grad_()
    zt = _logits(2, 3, V, seed=4)
    dense = DIVERGENCES[name](zs, zt, temperature=3.0)
    (g_dense,) = torch.autograd.grad(dense, zs)
    sparse = DIVERGENCES[name](zs, topk_targets(zt, k=V, temperature=3.0), temperature=3.0, chunk_size=2)
    (g_sparse,) = torch.autograd.grad(sparse, zs)
    torch.testing.assert_close(sparse, dense, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_sparse, g_dense, rtol=1e-7, atol=1e-12)


def test_topk_targets_refuse_a_bad_capture_temperature():
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        TopKTargets(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2), temperature=0)

"""Parity with the conventions of the peers users migrate from (README, "Coming from another library").

Each reference below is written from the peer's documented definition (TRL's
``GKDTrainer.generalized_jsd_loss``, DistiLLM's ``js_distance`` / ``skewed_forward_kl``,
torchtune's ``ForwardKLLoss``, Liger's ``LigerFusedLinearJSDLoss``) in plain autograd, not
copied from their code; where the peer itself is installed it is compared too. The tests pin
the mappings the README states: what equals what, and by which factor.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from distill.losses import forward_kl, generalized_jsd, hinton_kd, skew_kl

B, L, V = 2, 6, 13


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(B, L, V, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(B, L, V, generator=g, dtype=torch.float64)
    y = torch.randint(0, V, (B, L), generator=g)
    y[:, :2] = -100  # prompt positions
    return s, t, y


def trl_generalized_jsd(s, t, labels=None, beta=0.5, temperature=1.0, reduction="batchmean"):
    """TRL's GKD loss: elementwise JSD_β with mixture m = β p_teacher + (1 − β) q_student,
    β·KL(p ‖ m) + (1 − β)·KL(q ‖ m); masked positions dropped; "batchmean" divides the sum
    by the kept positions with labels and by the batch size B without them."""
    q = F.log_softmax(s / temperature, -1)
    p = F.log_softmax(t / temperature, -1)
    if beta == 0:
        jsd = p.exp() * (p - q)
    elif beta == 1:
        jsd = q.exp() * (q - p)
    else:
        m = torch.logsumexp(torch.stack([q + math.log(1 - beta), p + math.log(beta)]), 0)
        jsd = beta * p.exp() * (p - m) + (1 - beta) * q.exp() * (q - m)
    if labels is not None:
        jsd = jsd[labels != -100]
    if reduction == "batchmean":
        return jsd.sum() / (jsd.size(0) if labels is not None else s.size(0))
    return jsd.sum() if reduction == "sum" else jsd.mean()


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
def test_trl_gkd_with_labels_is_our_jsd(beta):
    s, t, y = _inputs()
    ours = generalized_jsd(s, t, beta=beta, labels=y, temperature=2.0)
    theirs = trl_generalized_jsd(s, t, labels=y, beta=beta, temperature=2.0)
    torch.testing.assert_close(ours, theirs)
    g1, = torch.autograd.grad(ours, s)
    g2, = torch.autograd.grad(theirs, s)
    torch.testing.assert_close(g1, g2)


def test_trl_batchmean_without_labels_is_sequence_length_times_ours():
    """Without labels TRL divides by B, we by B·L positions: theirs = L × ours."""
    s, t, _ = _inputs(1)
    torch.testing.assert_close(trl_generalized_jsd(s, t, beta=0.5), L * generalized_jsd(s, t, beta=0.5))
    # our num_items_in_batch reproduces any normalizer, here TRL's: sum / B
    torch.testing.assert_close(generalized_jsd(s, t, beta=0.5, num_items_in_batch=B), trl_generalized_jsd(s, t))


def test_num_items_in_batch_makes_accumulated_micro_batches_equal_one_batch():
    """Two micro-batches with different numbers of kept tokens: mean-per-micro-batch weighs their
    tokens unequally; dividing each sum by the whole batch's count gives the full-batch loss."""
    s, t, y = _inputs(2)
    y[1, 2:5] = -100  # the second sequence keeps fewer tokens
    n = int((y != -100).sum())
    full = forward_kl(s, t, labels=y)
    accumulated = sum(forward_kl(s[i:i + 1], t[i:i + 1], labels=y[i:i + 1], num_items_in_batch=n) for i in range(B))
    torch.testing.assert_close(accumulated, full)
    naive = sum(forward_kl(s[i:i + 1], t[i:i + 1], labels=y[i:i + 1]) for i in range(B)) / B
    assert abs(naive.item() - full.item()) > 1e-3  # the bias num_items_in_batch removes
    with pytest.raises(ValueError, match="num_items_in_batch must be a positive count"):
        forward_kl(s, t, num_items_in_batch=0)


def test_distillm_js_distance_is_our_jsd_with_beta_one_minus_lambda():
    """DistiLLM's js_distance(λ): mixture m = λ q + (1 − λ) p (λ on the student), loss
    λ·KL(q ‖ m) + (1 − λ)·KL(p ‖ m) = our generalized_jsd(beta=1 − λ)."""
    s, t, y = _inputs(3)
    lam = 0.2
    q, p = F.log_softmax(s, -1), F.log_softmax(t, -1)
    # DistiLLM: mixture weights λ on the *student*, (1 − λ) on the teacher
    m = torch.logsumexp(torch.stack([q + math.log(lam), p + math.log(1 - lam)]), 0)
    per = lam * q.exp() * (q - m) + (1 - lam) * p.exp() * (p - m)
    keep = y != -100
    theirs = per.sum(-1)[keep].mean()
    torch.testing.assert_close(generalized_jsd(s, t, beta=1 - lam, labels=y), theirs)


def test_distillm_skewed_forward_kl_is_a_cross_entropy_higher_by_the_teacher_entropy():
    """DistiLLM's skewed_forward_kl(α) is −Σ p log(α p + (1 − α) q): our skew_kl(skew=α) plus H(p)."""
    s, t, y = _inputs(4)
    a = 0.1
    q, p = F.softmax(s, -1), F.softmax(t, -1)
    theirs = -(p * torch.log(a * p + (1 - a) * q)).sum(-1)[y != -100].mean()
    entropy = -(p * p.log()).sum(-1)[y != -100].mean()
    torch.testing.assert_close(skew_kl(s, t, skew=a, labels=y) + entropy, theirs)


def test_torchtune_forward_kl_loss_is_a_cross_entropy():
    """torchtune's ForwardKLLoss is −Σ p log q averaged over kept tokens: our forward_kl plus H(p)."""
    s, t, y = _inputs(5)
    p = F.softmax(t, -1)
    theirs = -(p * F.log_softmax(s, -1)).sum(-1)[y != -100].mean()
    entropy = -(p * p.log()).sum(-1)[y != -100].mean()
    torch.testing.assert_close(forward_kl(s, t, labels=y) + entropy, theirs)


def test_torchtune_itself_where_installed():
    tt = pytest.importorskip("torchtune.modules.loss")
    s, t, y = _inputs(5)
    p = F.softmax(t, -1)
    entropy = -(p * p.log()).sum(-1)[y != -100].mean()
    theirs_real = tt.ForwardKLLoss()(s.float(), t.float(), y)
    torch.testing.assert_close((forward_kl(s, t, labels=y) + entropy).float(), theirs_real, rtol=1e-4, atol=1e-5)


def test_liger_fused_linear_jsd_adds_hard_label_ce_by_default():
    """Liger's LigerFusedLinearJSDLoss mixes weight_hard_loss · CE + weight_soft_loss · JSD (0.5 / 0.5 by
    default): our generalized_jsd plus the student's CE on the labels, weighted the same."""
    s, t, y = _inputs(6)
    ce = F.cross_entropy(s.reshape(-1, V), y.reshape(-1), ignore_index=-100)
    theirs = 0.5 * ce + 0.5 * trl_generalized_jsd(s, t, labels=y, beta=0.5)
    ours = 0.5 * ce + 0.5 * generalized_jsd(s, t, beta=0.5, labels=y)
    torch.testing.assert_close(ours, theirs)
    # and hinton_kd at T = 1 is the same shape of mixture with forward KL
    flat_s, flat_t, flat_y = s.reshape(-1, V), t.reshape(-1, V), y.reshape(-1)
    torch.testing.assert_close(hinton_kd(flat_s, flat_t, flat_y, temperature=1.0, ce_weight=0.5),
                               0.5 * ce + 0.5 * forward_kl(flat_s, flat_t, labels=flat_y))

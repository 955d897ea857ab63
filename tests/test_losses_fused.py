"""Fused linear losses: the divergence from hidden states and the output weight, never the logits.

Every test compares the fused path with the logits path on the same inputs (``logits = hidden @ W.T``,
then the registry's function, whose own tests pin its values): values and the gradients for hidden
states, weight and bias, in float64 so that the only difference is summation order.
"""

import pytest
import torch
import torch.nn.functional as F

from distill.losses import (
    DIVERGENCES,
    FusedLoss,
    LinearLogits,
    fused_linear_loss,
    sampled_targets,
    topk_targets,
)

B, L, H, V = 3, 5, 8, 37
PARAMS = {"beta": 0.3, "skew": 0.2}


def _inputs(seed=0, dtype=torch.float64, bias=False):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(B, L, H, generator=g, dtype=dtype).requires_grad_()
    w = (torch.randn(V, H, generator=g, dtype=dtype) * 0.7).requires_grad_()
    b = (torch.randn(V, generator=g, dtype=dtype) * 0.1).requires_grad_() if bias else None
    ht = torch.randn(B, L, H + 3, generator=g, dtype=dtype)  # the teacher may have another hidden size
    wt = torch.randn(V, H + 3, generator=g, dtype=dtype)
    return h, w, b, ht, wt


def _logits(h, w, b=None):
    z = h @ w.T
    return z if b is None else z + b


def _grads(loss, *xs):
    return torch.autograd.grad(loss, [x for x in xs if x is not None])


def _close(a, b, tol=1e-10):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_every_divergence_matches_the_logits_path_in_value_and_gradients(name, temperature):
    h, w, b, ht, wt = _inputs(bias=True)
    labels = torch.randint(0, V, (B, L), generator=torch.Generator().manual_seed(1))
    labels[0, 1] = labels[2, 4] = -100  # masked positions are skipped by both paths
    kw = {p: PARAMS[p] for p in DIVERGENCES[name].params}
    ref = DIVERGENCES[name](_logits(h, w, b), _logits(ht, wt), temperature=temperature, labels=labels,
                            chunk_size=None, **kw)
    fused = fused_linear_loss(name, LinearLogits(h, w, b), LinearLogits(ht, wt), temperature=temperature,
                              labels=labels, chunk_size=4, **kw)
    assert isinstance(fused, FusedLoss)
    torch.testing.assert_close(fused.loss, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.divergence, ref.detach(), rtol=1e-12, atol=1e-12)
    _close(_grads(fused.loss, h, w, b), _grads(ref, h, w, b))


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_the_registry_functions_take_linear_logits_directly(name):
    h, w, _, ht, wt = _inputs(seed=2)
    kw = {p: PARAMS[p] for p in DIVERGENCES[name].params}
    ref = DIVERGENCES[name](_logits(h, w), _logits(ht, wt), temperature=1.5, **kw)
    fused = DIVERGENCES[name](LinearLogits(h, w), _logits(ht, wt).detach(), temperature=1.5, chunk_size=3, **kw)
    torch.testing.assert_close(fused, ref, rtol=1e-12, atol=1e-12)
    _close(_grads(fused, h, w), _grads(ref, h, w))


@pytest.mark.parametrize("kind", ["topk", "topk_renormalized", "sampled"])
def test_stored_targets_match_the_logits_path(kind):
    h, w, _, ht, wt = _inputs(seed=3)
    zt = _logits(ht, wt)
    if kind == "sampled":
        targets = sampled_targets(zt, n=6, temperature=2.0, generator=torch.Generator().manual_seed(0))
        name, T = "forward_kl", 2.0
    else:
        targets = topk_targets(zt, k=5, keep_tail=kind == "topk", temperature=1.0)
        name, T = "jsd", 2.0  # re-tempered from the capture temperature
    kw = {"beta": 0.3} if name == "jsd" else {}
    ref = DIVERGENCES[name](_logits(h, w), targets, temperature=T, chunk_size=None, **kw)
    fused = fused_linear_loss(name, LinearLogits(h, w), targets, temperature=T, chunk_size=4, **kw)
    torch.testing.assert_close(fused.loss, ref, rtol=1e-12, atol=1e-12)
    _close(_grads(fused.loss, h, w), _grads(ref, h, w))


def test_hard_label_ce_is_mixed_in_the_same_pass():
    h, w, _, ht, wt = _inputs(seed=4)
    g = torch.Generator().manual_seed(5)
    ce_labels = torch.randint(0, V, (B, L), generator=g)
    ce_labels[:, -1] = -100  # the last position has no next token
    ce_labels[1, 0] = -100
    weight = 0.3
    ref_div = DIVERGENCES["reverse_kl"](_logits(h, w), _logits(ht, wt), temperature=2.0)
    ref_ce = F.cross_entropy(_logits(h, w).reshape(-1, V), ce_labels.reshape(-1), ignore_index=-100)
    ref = (1 - weight) * ref_div + weight * ref_ce
    fused = fused_linear_loss("reverse_kl", LinearLogits(h, w), LinearLogits(ht, wt), temperature=2.0,
                              ce_labels=ce_labels, ce_weight=weight, chunk_size=4)
    torch.testing.assert_close(fused.loss, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.divergence, ref_div.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.ce, ref_ce.detach(), rtol=1e-12, atol=1e-12)
    _close(_grads(fused.loss, h, w), _grads(ref, h, w))


def test_num_items_in_batch_and_a_scaled_backward():
    h, w, _, ht, wt = _inputs(seed=6)
    labels = torch.zeros(B, L, dtype=torch.long)
    labels[:, :2] = -100
    ref = DIVERGENCES["forward_kl"](_logits(h, w), _logits(ht, wt), labels=labels, num_items_in_batch=40)
    fused = fused_linear_loss("forward_kl", LinearLogits(h, w), LinearLogits(ht, wt), labels=labels,
                              num_items_in_batch=40, chunk_size=2)
    torch.testing.assert_close(fused.loss, ref, rtol=1e-12, atol=1e-12)
    _close(_grads(3.0 * fused.loss, h, w), _grads(3.0 * ref, h, w))  # grad_output ≠ 1 scales every gradient


def test_all_masked_positions_give_zero_loss_and_zero_gradients():
    h, w, _, ht, wt = _inputs(seed=7)
    labels = torch.full((B, L), -100)
    fused = fused_linear_loss("jsd", LinearLogits(h, w), LinearLogits(ht, wt), labels=labels, beta=0.5)
    assert fused.loss.item() == 0.0
    gh, gw = _grads(fused.loss, h, w)
    assert not gh.any() and not gw.any()


def test_tied_embeddings_get_both_gradients():
    """A tied output layer is the embedding matrix: its gradient sums the lookup's and the loss's."""
    h, w, _, ht, wt = _inputs(seed=8)
    ids = torch.randint(0, V, (B, L), generator=torch.Generator().manual_seed(9))
    emb = w.detach().clone().requires_grad_()  # one tensor, used twice

    def loss(fused: bool):
        hidden = torch.tanh(F.embedding(ids, emb) + h)  # (B, L, H): a stand-in for the model's body
        student = LinearLogits(hidden, emb) if fused else hidden @ emb.T
        return DIVERGENCES["forward_kl"](student, _logits(ht, wt), temperature=2.0)

    (g_fused,) = torch.autograd.grad(loss(True), emb)
    (g_ref,) = torch.autograd.grad(loss(False), emb)
    torch.testing.assert_close(g_fused, g_ref, rtol=1e-10, atol=1e-12)


def test_low_precision_hidden_states_run_the_product_in_the_weights_dtype():
    """bf16 hidden states (autocast) against fp32 weights: fp32 product, gradients in the inputs' dtypes."""
    h, w, _, ht, wt = _inputs(seed=10, dtype=torch.float32)
    hb = h.detach().bfloat16().requires_grad_()
    ref = DIVERGENCES["forward_kl"](hb.float() @ w.T, _logits(ht, wt))
    fused = DIVERGENCES["forward_kl"](LinearLogits(hb, w), LinearLogits(ht, wt), chunk_size=4)
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-6)
    gh, gw = _grads(fused, hb, w)
    rh, rw = _grads(ref, hb, w)
    assert gh.dtype == torch.bfloat16 and gw.dtype == torch.float32
    torch.testing.assert_close(gw, rw, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gh.float(), rh.float(), rtol=1e-2, atol=1e-4)


def test_without_gradients_it_only_evaluates():
    h, w, _, ht, wt = _inputs(seed=11)
    with torch.no_grad():
        ref = DIVERGENCES["tvd"](_logits(h, w), _logits(ht, wt))
        fused = DIVERGENCES["tvd"](LinearLogits(h, w), LinearLogits(ht, wt))
    assert not fused.requires_grad
    torch.testing.assert_close(fused, ref, rtol=1e-12, atol=1e-12)


def test_bad_inputs_are_refused_with_the_parameter_named():
    h, w, _, ht, wt = _inputs(seed=12)
    with pytest.raises(ValueError, match="same H"):
        LinearLogits(h, w[:, :3])
    with pytest.raises(ValueError, match="must match"):
        fused_linear_loss("forward_kl", LinearLogits(h, w), LinearLogits(ht, wt[:5]))
    with pytest.raises(ValueError, match="unknown divergence"):
        fused_linear_loss("kl", LinearLogits(h, w), LinearLogits(ht, wt))
    with pytest.raises(ValueError, match=r"takes the settings \['beta'\]"):
        fused_linear_loss("jsd", LinearLogits(h, w), LinearLogits(ht, wt), skew=0.1)
    with pytest.raises(ValueError, match="needs ce_labels"):
        fused_linear_loss("tvd", LinearLogits(h, w), LinearLogits(ht, wt), ce_weight=0.5)
    labels = torch.zeros(B, L, dtype=torch.long)
    labels[0, 0] = -100
    with pytest.raises(ValueError, match="ce_labels count a position that labels mask"):
        fused_linear_loss("tvd", LinearLogits(h, w), LinearLogits(ht, wt), labels=labels,
                          ce_labels=torch.zeros(B, L, dtype=torch.long), ce_weight=0.5)
    with pytest.raises(ValueError, match="SampledTargets"):
        fused_linear_loss("tvd", LinearLogits(h, w), sampled_targets(_logits(ht, wt), n=3))

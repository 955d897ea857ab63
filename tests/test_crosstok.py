"""Cross-tokenizer losses: ULD, span alignment, span merging and the hybrid loss."""

import math

import pytest
import torch

from distill.crosstok import (
    CrossTargets,
    align_spans,
    hybrid,
    hybrid_topk,
    merge_spans,
    shared_vocab,
    uld,
    uld_topk,
)
from distill.losses import forward_kl


def _logits(probs):
    return torch.tensor(probs, dtype=torch.float64).log()


def test_uld_matches_a_hand_computed_value():
    # sorted q = (.5, .3, .2, 0) (padded), sorted p = (.6, .2, .1, .1): |−.1| + |.1| + |.1| + |−.1| = 0.4
    q, p = _logits([[0.2, 0.5, 0.3]]), _logits([[0.1, 0.6, 0.2, 0.1]])
    assert uld(q, p).item() == pytest.approx(0.4, abs=1e-12)


def test_uld_is_n_times_scipys_wasserstein_distance_of_the_probability_values():
    """With both vectors padded to n entries, Σ|p_(i) − q_(i)| = n · W1 of the two empirical distributions
    of the n values (scipy.stats.wasserstein_distance): where the two definitions coincide."""
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(6, 9, generator=g, dtype=torch.float64), torch.randn(6, 13, generator=g, dtype=torch.float64)
    got = uld(zs, zt, temperature=1.7)
    q, p = (zs / 1.7).softmax(-1), (zt / 1.7).softmax(-1)
    ref = [13 * stats.wasserstein_distance(torch.cat([q[i], torch.zeros(4, dtype=q.dtype)]).numpy(), p[i].numpy())
           for i in range(6)]
    assert got.item() == pytest.approx(sum(ref) / 6, rel=1e-10)


def test_uld_ignores_token_identity_and_masks_positions():
    g = torch.Generator().manual_seed(1)
    zs, zt = torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g)
    perm = torch.randperm(7, generator=g)
    torch.testing.assert_close(uld(zs, zt), uld(zs, zt[..., perm]))  # a relabelled teacher vocabulary: same loss
    assert uld(zs, zs[..., perm]).item() == pytest.approx(0.0, abs=1e-6)  # the same sorted distribution
    labels = torch.zeros(2, 3, dtype=torch.long)
    labels[0] = -100
    torch.testing.assert_close(uld(zs, zt, labels=labels), uld(zs[1], zt[1]))
    assert uld(zs, zt, labels=torch.full((2, 3), -100)).item() == 0.0
    z = zs.clone().requires_grad_()
    uld(z, zt).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_align_spans_on_hand_made_tokenizations():
    # "the cat sat": ["the", " cat", " sat"] vs ["th", "e", " c", "at", " sat"]
    a = [(0, 3), (3, 7), (7, 11)]
    b = [(0, 2), (2, 3), (3, 5), (5, 7), (7, 11)]
    assert align_spans(a, b) == [(0, 1, 0, 2), (1, 2, 2, 4), (2, 3, 4, 5)]
    assert align_spans(b, a) == [(0, 2, 0, 1), (2, 4, 1, 2), (4, 5, 2, 3)]
    # boundaries that cross: "abcd" as ["ab", "cd"] vs ["a", "bc", "d"]: one span of everything
    assert align_spans([(0, 2), (2, 4)], [(0, 1), (1, 3), (3, 4)]) == [(0, 2, 0, 3)]
    # identical tokenizations: one span per token
    assert align_spans(a, a) == [(0, 1, 0, 1), (1, 2, 1, 2), (2, 3, 2, 3)]
    # a tail that never meets a shared boundary (B's window ends mid-token of A) is dropped
    assert align_spans([(0, 3), (3, 7)], [(0, 3), (3, 5)]) == [(0, 1, 0, 1)]
    with pytest.raises(ValueError, match="same start"):
        align_spans([(0, 3)], [(1, 3)])
    with pytest.raises(ValueError, match="must not decrease"):
        align_spans([(0, 3), (3, 2)], [(0, 3)])


def test_merge_spans_multiplies_the_later_conditionals():
    logp = _logits([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2]])
    ids = torch.tensor([0, 1, 2])
    merged = merge_spans(logp, ids, [(0, 2), (2, 3)]).exp()
    # span (0, 2): row 0 × p(x_1 = 1 | ·) = 0.8;  span (2, 3): row 2 as it is
    torch.testing.assert_close(merged, torch.tensor([[0.4, 0.24, 0.16], [0.6, 0.2, 0.2]], dtype=torch.float64))


def test_shared_vocab_pairs_equal_strings():
    a, b = shared_vocab(["a", "b", "ab", "b"], ["c", "b", "a", "a"])
    assert a.tolist() == [0, 1] and b.tolist() == [2, 1]  # lowest id where a string repeats


def test_hybrid_reduces_to_forward_kl_for_one_tokenizer():
    g = torch.Generator().manual_seed(2)
    zs, zt = torch.randn(5, 11, generator=g, dtype=torch.float64), torch.randn(5, 11, generator=g, dtype=torch.float64)
    ids = torch.randint(0, 11, (5,), generator=g)
    offsets = [(i, i + 1) for i in range(5)]
    strings = [f"t{i}" for i in range(11)]
    zs.requires_grad_()
    got = hybrid(zs, zt, ids, ids, align_spans(offsets, offsets), shared_vocab(strings, strings), temperature=2.0)
    ref = forward_kl(zs, zt, temperature=2.0)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    (g1,) = torch.autograd.grad(got, zs)
    (g2,) = torch.autograd.grad(ref, zs)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


def test_hybrid_on_a_hand_made_pair():
    """Student vocabulary ["a", "b", "ab"], teacher ["a", "b", "c"]; the text "ab" is one student token
    ("ab", id 2) and two teacher tokens ("a", "b")."""
    q = _logits([[0.2, 0.1, 0.7]])  # student: prediction for its token 0
    p = _logits([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1]])  # teacher: predictions for its tokens 0 and 1
    spans = align_spans([(0, 2)], [(0, 1), (1, 2)])
    assert spans == [(0, 1, 0, 2)]
    vocab = shared_vocab(["a", "b", "ab"], ["a", "b", "c"])
    got = hybrid(q, p, torch.tensor([2]), torch.tensor([0, 1]), spans, vocab)
    # teacher merged: (.5, .3, .2) × p(b | a) = .8 → (.4, .24, .16); student: (.2, .1, .7)
    exact = (0.4 * math.log(0.4 / 0.2) - 0.4 + 0.2) + (0.24 * math.log(0.24 / 0.1) - 0.24 + 0.1)  # "a", "b"
    rest = abs(0.7 - 0.16)  # "ab" (student only) against "c" (teacher only)
    assert got.item() == pytest.approx(exact + rest, abs=1e-12)


def test_hybrid_without_shared_tokens_is_uld_of_the_merged_vectors():
    g = torch.Generator().manual_seed(3)
    zs, zt = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(3, 6, generator=g, dtype=torch.float64)
    ids = torch.tensor([0, 1, 2])
    offsets = [(0, 1), (1, 2), (2, 3)]
    none = (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    got = hybrid(zs, zt, ids, ids, align_spans(offsets, offsets), none)
    torch.testing.assert_close(got, uld(zs, zt))


def _stored(teacher_logits, next_ids, k, temperature):
    """What a cross store keeps of live teacher logits: top k (shuffled order), log tail, observed."""
    logp = (teacher_logits / temperature).log_softmax(-1)
    values, ids = logp.topk(k, dim=-1)
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(0))  # the order carries no meaning
    tail = logp.scatter(-1, ids, float("-inf")).logsumexp(-1)
    return CrossTargets(ids[:, perm], values[:, perm], tail, logp.gather(-1, next_ids[:, None]).squeeze(-1),
                        temperature)


@pytest.mark.parametrize(("vs", "vt"), [(11, 13), (13, 11), (9, 9)])
def test_stored_losses_equal_the_live_ones_when_k_covers_the_teachers_vocabulary(vs, vt):
    g = torch.Generator().manual_seed(vs * vt)
    zs = torch.randn(7, vs, generator=g, dtype=torch.float64, requires_grad=True)
    zt = 2 * torch.randn(7, vt, generator=g, dtype=torch.float64)
    s_ids, t_ids = torch.randint(0, vs, (7,), generator=g), torch.randint(0, vt, (7,), generator=g)
    stored = _stored(zt, t_ids, vt, 1.5)
    torch.testing.assert_close(uld_topk(zs, stored, temperature=1.5), uld(zs, zt, temperature=1.5), rtol=1e-12, atol=1e-12)
    spans = [(0, 1, 0, 2), (1, 3, 2, 3), (3, 4, 3, 5), (4, 7, 5, 7)]
    vocab = (torch.tensor([0, 2, 3, 5, 8]), torch.tensor([1, 0, 7, 8, 4]))
    live = hybrid(zs, zt, s_ids, t_ids, spans, vocab, temperature=1.5)
    got = hybrid_topk(zs, s_ids, stored, t_ids, spans, vocab, temperature=1.5)
    torch.testing.assert_close(got, live, rtol=1e-12, atol=1e-12)
    (g1,) = torch.autograd.grad(got, zs)
    (g2,) = torch.autograd.grad(live, zs)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


def test_uld_topk_on_a_hand_made_pair_and_below_uld():
    """Teacher (.5, .3, .2) kept as its top 1 and a tail of .5; student (.1, .6, .3):
    |.5 − .6| + |.5 − (.1 + .3)| = .1 + .1 = .2, against the full ULD .1 + |.3 − .3| + |.2 − .1| = .2."""
    p, q = _logits([[0.5, 0.3, 0.2]]), _logits([[0.1, 0.6, 0.3]])
    stored = _stored(p, torch.tensor([0]), 1, 1.0)
    assert uld_topk(q, stored).item() == pytest.approx(0.2, abs=1e-12)
    g = torch.Generator().manual_seed(4)
    for k in (1, 3, 6):  # the tail compared by its total: never more than the full sorted distance
        zs, zt = torch.randn(20, 8, generator=g, dtype=torch.float64), torch.randn(20, 10, generator=g, dtype=torch.float64)
        assert uld_topk(zs, _stored(zt, torch.zeros(20, dtype=torch.long), k, 1.0)).item() <= uld(zs, zt).item() + 1e-12


def test_hybrid_topk_on_a_hand_made_pair():
    """The pair of test_hybrid_on_a_hand_made_pair with the teacher kept as its top 1 ("a", .5; tail .5):
    merged with p(b | a) = .8: "a" .4, tail .4. "a" is shared: .4 log(.4/.2) − .4 + .2; the student's rest
    ("b" .1, "ab" .7) faces the teacher's rest (no top entry left, tail .4): |0 − .7| + |.4 − .1|."""
    q = _logits([[0.2, 0.1, 0.7]])
    p = _logits([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1]])
    stored = _stored(p, torch.tensor([1, 0]), 1, 1.0)  # row 0's next token is "b" (observed p(b | a) from row 1)
    stored.observed = torch.tensor([0.5, 0.8], dtype=torch.float64).log()
    vocab = shared_vocab(["a", "b", "ab"], ["a", "b", "c"])
    got = hybrid_topk(q, torch.tensor([2]), stored, torch.tensor([0, 1]), [(0, 1, 0, 2)], vocab)
    want = (0.4 * math.log(0.4 / 0.2) - 0.4 + 0.2) + 0.7 + abs(0.4 - 0.1)
    assert got.item() == pytest.approx(want, abs=1e-12)

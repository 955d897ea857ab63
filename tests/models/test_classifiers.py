import pytest
import torch

from distill.models import ARCHITECTURES, MLP, build_classifier


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_builds_and_maps_images_to_logits(name):
    assert len(ARCHITECTURES) >= 3  # guard the guard: the parametrization is not empty
    model = build_classifier(name).eval()
    assert model(torch.rand(3, 28, 28)).shape == (3, 10)


def test_paper_sizes():
    teacher, student = build_classifier("mlp-1200"), build_classifier("mlp-800")
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(teacher) == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
    assert n(student) == 784 * 800 + 800 + 800 * 800 + 800 + 800 * 10 + 10
    assert student.max_norm is None and teacher.max_norm == 15.0


def test_max_norm_clips_incoming_weights():
    m = MLP(4, (3,), 2, max_norm=1.0)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(0).add_(5.0)
    m.apply_constraints()
    norms = m.hidden1[0].weight.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(3))


def test_unknown_architecture_lists_choices():
    with pytest.raises(ValueError, match="choose one of"):
        build_classifier("resnet")


def test_seeded_build_ignores_and_keeps_the_global_rng():
    import torch

    from distill.models import build_classifier

    torch.manual_seed(0)
    a = build_classifier("mlp-800", seed=5)
    torch.rand(1000)  # whatever ran before (imports, other models) must not change the draw
    state = torch.get_rng_state()
    b = build_classifier("mlp-800", seed=5)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left as it was
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), k
    c = build_classifier("mlp-800", seed=6)
    assert not torch.equal(next(iter(a.parameters())), next(iter(c.parameters())))

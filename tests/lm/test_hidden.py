"""Intermediate-state KD (`lm train --hidden-weight`): the map from `distill lm student`, the loss, training."""

import csv
import json

import pytest
import torch

from distill.lm.hidden import HiddenMap, hidden_loss, hidden_map

pytest.importorskip("transformers")


def test_hidden_loss_values():
    g = torch.Generator().manual_seed(0)
    t = [torch.randn(2, 5, 6, generator=g) for _ in range(4)]
    hmap = HiddenMap(((1, 1), (2, 3)), channels=(0, 2, 5))
    same = [None, t[1][..., [0, 2, 5]], t[3][..., [0, 2, 5]]]
    assert hidden_loss(same, t, hmap).item() == pytest.approx(0.0, abs=1e-12)
    zeros = [None, torch.zeros(2, 5, 3), torch.zeros(2, 5, 3)]
    assert hidden_loss(zeros, t, hmap).item() == pytest.approx(1.0, rel=1e-6)  # relative to the teacher's mean square
    # by hand: layer 1 off by 1 everywhere, layer 2 exact: (1 / mean(t1²) + 0) / 2
    off = [None, same[1] + 1.0, same[2]]
    want = 0.5 / t[1][..., [0, 2, 5]].pow(2).mean().item()
    assert hidden_loss(off, t, hmap).item() == pytest.approx(want, rel=1e-5)
    s = same[1].clone().requires_grad_()
    hidden_loss([None, s + 0.5, same[2]], t, hmap).backward()
    assert s.grad.abs().sum() > 0


def test_maps_of_cut_and_pruned_students(tiny_teacher, tmp_path):
    from distill.lm.prune import build_pruned
    from distill.lm.student import build_student
    from tests.lm.tiny import TEXT

    build_student(str(tiny_teacher), "every-other", tmp_path / "cut")
    assert hidden_map(tmp_path / "cut") == HiddenMap(((1, 1),), None, 4)  # kept 0, 2: block 0 faces block 0
    (tmp_path / "c.txt").write_text("\n\n".join(TEXT))
    build_pruned(str(tiny_teacher), tmp_path / "pruned", hidden=0.25, layers=1, calibration=str(tmp_path / "c.txt"),
                 window=16, windows=4)
    info = json.loads((tmp_path / "pruned" / "distill_student.json").read_text())
    m = hidden_map(tmp_path / "pruned")
    assert m.pairs == tuple((j + 1, t + 1) for j, t in enumerate(info["kept_layers"][:-1])) and len(m.pairs) == 2
    assert m.channels == tuple(info["map"]["hidden"]) and len(m.channels) == 48
    with pytest.raises(ValueError, match="distill_student.json"):
        hidden_map(tiny_teacher)


def test_a_first_layers_cut_starts_at_zero_and_fused_equals_unfused(tiny_teacher, tmp_path):
    """A student of the teacher's first 3 blocks computes the teacher's first 2 block outputs exactly, so the
    hidden loss of its first step is 0 (up to float error); later steps move it; the fused and logits paths
    log the same numbers."""
    from distill.lm.student import build_student
    from distill.lm.train import LMTrainConfig, run
    from tests.lm.tiny import TEXT

    (tmp_path / "c.txt").write_text("\n\n".join(TEXT))
    build_student(str(tiny_teacher), "first-3", tmp_path / "s")
    rows = {}
    for fused in (True, False):
        out = tmp_path / f"run_{fused}"
        run(LMTrainConfig(teacher=str(tiny_teacher), student=str(tmp_path / "s"), data=str(tmp_path / "c.txt"),
                          window=16, batch_size=4, steps=3, lr=3e-3, warmup=1, hidden_weight=0.5, ce_weight=0.2,
                          fused_loss=fused, checkpoint_every=0, tensorboard=False, out=str(out)))
        rows[fused] = list(csv.DictReader(open(out / "metrics.csv")))
    first, later = float(rows[True][0]["hidden"]), float(rows[True][-1]["hidden"])
    assert first < 1e-9 and later > 1e-6
    for r in rows[True]:
        want = 0.8 * float(r["divergence"]) + 0.2 * float(r["ce"]) + 0.5 * float(r["hidden"])
        assert float(r["loss"]) == pytest.approx(want, rel=1e-5)
    for a, b in zip(rows[True], rows[False], strict=True):
        for key in ("loss", "divergence", "hidden"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-3, abs=1e-8)


def test_hidden_weight_refusals(tiny_teacher, tmp_path):
    from distill.lm.train import LMTrainConfig, run
    from tests.lm.tiny import TEXT, make_llama, make_tokenizer

    with pytest.raises(ValueError, match="hidden_weight must be 0 unless one live teacher"):
        LMTrainConfig(student="s", targets=("store",), hidden_weight=1.0)
    (tmp_path / "c.txt").write_text("\n\n".join(TEXT))
    other = make_llama(tmp_path / "other", make_tokenizer(TEXT), layers=2)
    with pytest.raises(ValueError, match="distill_student.json"):
        run(LMTrainConfig(teacher=str(tiny_teacher), student=str(other), data=str(tmp_path / "c.txt"), window=16,
                          steps=1, hidden_weight=1.0, checkpoint_every=0, tensorboard=False, out=str(tmp_path / "r")))

"""Distilled diffusion (BK-SDM): block removal, feature KD, the Fréchet distance, determinism, the CLI."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("sklearn")

from distill.experiments import diffusion as dif  # noqa: E402
from distill.losses import feature_kd  # noqa: E402
from distill.train.classifier import _HintTaps  # noqa: E402


def _teacher(seed=0):
    return dif.build_unet(8, (8, 16), 2, True, 10, seed)


def test_block_removal_keeps_shapes_and_copies_the_teachers_kept_blocks():
    teacher = _teacher()
    student, copied = dif.remove_blocks(teacher, 1, mid_block=False, seed=1)
    assert student.mid_block is None and teacher.mid_block is not None
    assert all(len(b.resnets) == 1 for b in student.down_blocks)
    assert all(len(b.resnets) == 2 for b in student.up_blocks)
    assert all(len(b.resnets) == 3 for b in teacher.up_blocks)
    assert dif.count_params(student) < 0.8 * dif.count_params(teacher)
    x, t, y = torch.randn(3, 1, 8, 8), torch.tensor([1, 500, 999]), torch.tensor([0, 4, 9])
    with torch.no_grad():
        assert student(x, t, class_labels=y).sample.shape == teacher(x, t, class_labels=y).sample.shape == x.shape
    s_mods, t_mods = dict(student.named_modules()), dict(teacher.named_modules())
    assert copied["down_blocks.0.resnets.0"] == "down_blocks.0.resnets.0"
    assert {"conv_in", "conv_out", "class_embedding", "time_embedding"} <= set(copied)
    assert len([k for k in copied if ".resnets." in k]) == 2 + 4  # one per down block, two per up block
    for s_name, t_name in copied.items():
        s_sd, t_sd = s_mods[s_name].state_dict(), t_mods[t_name].state_dict()
        assert s_sd.keys() == t_sd.keys()
        for k in s_sd:
            assert torch.equal(s_sd[k], t_sd[k]), (s_name, k)
    # Without init the same architecture is drawn at random: the weights differ from the teacher's.
    scratch, none = dif.remove_blocks(teacher, 1, seed=1, init=False)
    assert none == {}
    assert not torch.equal(scratch.conv_in.weight, teacher.conv_in.weight)


def test_block_removal_refuses_more_layers_than_the_teacher_has():
    with pytest.raises(ValueError, match="exceed"):
        dif.remove_blocks(_teacher(), 3)


def _block_outputs(model, layers, x, t, y):
    taps = _HintTaps(model, layers)
    try:
        with torch.no_grad():
            model(x, t, class_labels=y)
    finally:
        taps.close()
    return taps.out


def test_feature_kd_is_zero_for_the_teacher_itself_and_positive_for_a_student():
    teacher = _teacher()
    student, _ = dif.remove_blocks(teacher, 1, seed=1)
    layers = dif.feature_layers(student, teacher)
    assert layers == ["down_blocks.0", "down_blocks.1", "up_blocks.0", "up_blocks.1"]
    x, t, y = torch.randn(4, 1, 8, 8), torch.tensor([3, 30, 300, 900]), torch.tensor([1, 2, 3, 4])
    t_out = _block_outputs(teacher, layers, x, t, y)
    same = _block_outputs(teacher, layers, x, t, y)
    assert float(feature_kd(same, t_out, layers)) == 0.0
    s_out = _block_outputs(student, layers, x, t, y)
    loss = feature_kd(s_out, t_out, layers)
    assert float(loss) > 0
    expected = sum(float(((s_out[k] - t_out[k]) ** 2).mean()) for k in layers)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="shape"):
        feature_kd({"a": torch.zeros(2, 3)}, {"a": torch.zeros(2, 4)}, ["a"])


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    # Diagonal covariances: ‖μ1 − μ2‖² + Σ (σ1 − σ2)².
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    assert dif.frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2)) == pytest.approx(
        1 + 4 + 0 + (1 - 4) ** 2 + (4 - 1) ** 2 + 0, rel=1e-10)
    # Identity against a rotated SPD matrix A = Q diag(λ) Qᵀ: Σ (1 − √λ)².
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    lam = np.array([0.25, 1.0, 4.0, 16.0])
    a = q @ np.diag(lam) @ q.T
    assert dif.frechet_distance(np.zeros(4), np.eye(4), np.zeros(4), a) == pytest.approx(
        ((1 - np.sqrt(lam)) ** 2).sum(), rel=1e-9)  # 0.25 + 0 + 1 + 9
    assert dif.frechet_distance(mu1, a[:3, :3], mu1, a[:3, :3]) == pytest.approx(0.0, abs=1e-9)
    # From samples: converges to the closed form.
    x = rng.normal(size=(20000, 2)) * [1.0, 2.0]
    y = rng.normal(size=(20000, 2)) * [3.0, 2.0] + [1.0, 0.0]
    assert dif.frechet_distance(*dif.gaussian(x), *dif.gaussian(y)) == pytest.approx(1 + 4, rel=0.03)
    with pytest.raises(ValueError, match="disagree"):
        dif.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def _tiny(tmp_path, name="run", **kw):
    args = dict(dataset="digits", channels=(8, 16), layers_per_block=2, teacher_steps=6, student_steps=4,
                batch_size=8, samples=20, ddim_steps=2, latency_repeats=1, out=str(tmp_path / name))
    return dif.DiffusionConfig(**(args | kw))


_TIMINGS = ("seconds", "cpu_seconds", "sample_seconds", "sample_cpu_seconds", "latency_b1_s", "latency_b64_s",
            "speedup_b1", "speedup_b64")


def _numbers(res):
    return {name: {k: v for k, v in m.items() if k not in _TIMINGS} for name, m in res["per_seed"][0]["models"].items()}


@pytest.mark.slow
def test_same_seed_gives_the_same_numbers_on_digits(tmp_path):
    a = dif.run(_tiny(tmp_path, "a", students=("scratch", "feature")))
    b = dif.run(_tiny(tmp_path, "b", students=("scratch", "feature")))
    assert _numbers(a) == _numbers(b)
    assert set(a["models"]) == {"teacher", "scratch", "feature"}
    m = a["models"]
    assert m["feature"]["params"] == m["scratch"]["params"] < m["teacher"]["params"]
    assert 0 <= m["feature"]["accuracy"] <= 1 and m["feature"]["fd_teacher"] > 0
    c = dif.run(_tiny(tmp_path, "c", students=("scratch", "feature"), seeds=(1,)))
    assert _numbers(c) != _numbers(a)
    for f in ("results.json", "results.md", "fd.png", "seed0/samples_feature.png"):
        assert (tmp_path / "a" / f).exists(), f


@pytest.mark.slow
def test_the_cli_command_runs_on_a_tiny_config(tmp_path, capsys):
    from distill.cli import main

    out = tmp_path / "cli"
    code = main(["experiment", "diffusion", "--dataset", "digits", "--channels", "8", "16", "--teacher-steps", "4",
                 "--student-steps", "2", "--batch-size", "8", "--samples", "20", "--ddim-steps", "2",
                 "--latency-repeats", "1", "--students", "output", "--out", str(out)])
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["models"]) == {"teacher", "output"}
    assert res["per_seed"][0]["models"]["output"]["copied_modules"] > 0
    assert "student, init + output KD" in (out / "results.md").read_text()
    assert "results.md" in capsys.readouterr().out


def test_quick_mode_fits_its_budget_settings():
    cfg = dif.DiffusionConfig(quick=True, seeds=(0, 1)).resolved()
    assert cfg.seeds == (0,) and cfg.image_size == 16 and cfg.channels == (16, 32, 32)
    assert cfg.teacher_steps <= 1000 and cfg.student_steps <= 400
    assert cfg.students == ("scratch", "output", "feature")
    with pytest.raises(ValueError, match="student_layers"):
        dif.DiffusionConfig(student_layers=3)

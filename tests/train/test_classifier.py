import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distill.models import MLP
from distill.train.classifier import (
    OptimConfig,
    Targets,
    count_errors,
    fit,
    jitter_images,
    load_classifier,
    predict,
    save_classifier,
)
from tests.conftest import make_images

CFG = OptimConfig(epochs=2, batch_size=50, lr=0.05, seed=3)


def _small():
    return MLP(784, (32, 32), 10, dropout=0.2)


def test_jitter_shifts_whole_image_within_range():
    x = torch.zeros(64, 28, 28)
    x[:, 10, 12] = 1.0  # one lit pixel
    out = jitter_images(x, 2, torch.Generator().manual_seed(0))
    pos = out.flatten(1).argmax(1)
    rows, cols = pos // 28, pos % 28
    assert out.sum().item() == 64  # the pixel is moved, never lost or duplicated
    assert rows.min() >= 8 and rows.max() <= 12 and cols.min() >= 10 and cols.max() <= 14
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # shifts actually vary
    assert torch.equal(jitter_images(x, 0), x)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    x, y = make_images(300, seed=0)
    cfg = OptimConfig(epochs=2, batch_size=50, lr=0.05, seed=3, jitter=1, checkpoint_every=4)
    torch.manual_seed(0)
    ref = _small()
    init = {k: v.clone() for k, v in ref.state_dict().items()}
    fit(ref, x, y, cfg, run_dir=tmp_path / "a")

    interrupted = _small()
    interrupted.load_state_dict(init)
    r = fit(interrupted, x, y, cfg, run_dir=tmp_path / "b", stop_after_steps=7)  # mid-epoch, off the save grid
    assert not r.completed and r.steps == 7
    resumed = _small()  # a fresh process would start from scratch weights; the checkpoint replaces them
    r = fit(resumed, x, y, cfg, run_dir=tmp_path / "b")
    assert r.completed and r.steps == 12
    for k, v in ref.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_a_finished_run_resumed_logs_one_line_and_no_nan_loss(tmp_path, caplog):
    x, y = make_images(100, seed=0)
    caplog.set_level(logging.INFO, logger="distill")
    fit(_small(), x, y, CFG, run_dir=tmp_path, desc="student")
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["student: 4/4 steps"]
    caplog.clear()
    r = fit(_small(), x, y, CFG, run_dir=tmp_path, desc="student")
    assert r.completed and r.steps == 4
    assert [r.getMessage() for r in caplog.records] == [f"student: resumed from {tmp_path / 'checkpoint'} at step 4/4"]


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    """A run folder reused with another α (or epochs...) must not silently continue the old run."""
    x, y = make_images(200, seed=0)
    logits = torch.randn(200, 10, generator=torch.Generator().manual_seed(0))
    fit(_small(), x, y, CFG, Targets(logits=logits, temperature=4.0, ce_weight=0.1), run_dir=tmp_path, stop_after_steps=2)
    with pytest.raises(ValueError, match=r"other settings \(differ: loss\.ce_weight\)"):
        fit(_small(), x, y, CFG, Targets(logits=logits, temperature=4.0, ce_weight=0.5), run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"differ: loss\.ce_weight, loss\.hint_weight, loss\.hints, loss\.temperature"):
        fit(_small(), x, y, CFG, None, run_dir=tmp_path)  # hard labels only: no loss settings at all
    with pytest.raises(ValueError, match=r"differ: optim\.epochs"):
        fit(_small(), x, y, OptimConfig(epochs=3, batch_size=50, lr=0.05, seed=3),
            Targets(logits=logits, temperature=4.0, ce_weight=0.1), run_dir=tmp_path)
    # checkpoint_every only decides when checkpoints are written: resuming with another value is fine
    r = fit(_small(), x, y, OptimConfig(epochs=2, batch_size=50, lr=0.05, seed=3, checkpoint_every=3),
            Targets(logits=logits, temperature=4.0, ce_weight=0.1), run_dir=tmp_path)
    assert r.completed and r.steps == 8


def test_training_on_labels_learns():
    x, y = make_images(500, seed=1)
    xt, yt = make_images(200, seed=2)
    torch.manual_seed(0)
    m = _small()
    before = count_errors(predict(m, xt), yt)
    fit(m, x, y, OptimConfig(epochs=10, batch_size=50, lr=0.1))
    after = count_errors(predict(m, xt), yt)
    assert before > 100 and after < 10


def test_soft_targets_pull_student_towards_teacher():
    """Targets that disagree with the labels on purpose: alpha=0 follows the teacher, alpha=1 the labels."""
    x, y = make_images(500, seed=4)
    teacher_labels = (y + 1) % 10  # a "teacher" that is confidently off by one class
    logits = torch.nn.functional.one_hot(teacher_labels, 10).float() * 10
    results = {}
    for alpha in (0.0, 1.0):
        torch.manual_seed(0)
        m = _small()
        fit(m, x, y, OptimConfig(epochs=10, batch_size=50, lr=0.1), Targets(logits, temperature=2.0, ce_weight=alpha))
        pred = predict(m, x).argmax(1)
        results[alpha] = ((pred == teacher_labels).float().mean().item(), (pred == y).float().mean().item())
    assert results[0.0][0] > 0.95 and results[1.0][1] > 0.95


def test_feature_hints_train_a_projection_that_matches_teacher_features():
    x, y = make_images(400, seed=5)
    g = torch.Generator().manual_seed(0)
    teacher_feat = torch.relu(x.flatten(1) @ torch.randn(784, 16, generator=g) / 8)  # (N, 16), O(1) values
    logits = torch.nn.functional.one_hot(y, 10).float() * 5
    rel_mse = {}
    for weight in (0.0, 5.0):
        torch.manual_seed(0)
        m = MLP(784, (32, 32), 10)
        t = Targets(logits, temperature=2.0, ce_weight=0.5, features={"t": teacher_feat}, hints=(("hidden2", "t"),),
                    hint_weight=weight)
        res = fit(m, x, y, OptimConfig(epochs=10, batch_size=50, lr=0.05), t)
        _, feats = predict(m, x, features=("hidden2",))
        with torch.no_grad():
            pred = res.projections["hidden2"](feats["hidden2"])
        rel_mse[weight] = (((pred - teacher_feat) ** 2).mean() / teacher_feat.var()).item()
    # Without the hint term the projection never trains; with it, it explains most of the variance.
    assert rel_mse[5.0] < 0.6 and rel_mse[0.0] > 5 * rel_mse[5.0], rel_mse


def test_bad_inputs_are_named():
    x, y = make_images(10)
    with pytest.raises(ValueError, match="fewer than one batch"):
        fit(_small(), x, y, CFG)
    with pytest.raises(ValueError, match="differ in length"):
        fit(_small(), x, y[:5], CFG)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got -1"):
        OptimConfig(lr=-1)
    with pytest.raises(ValueError, match="student has no layer"):
        fit(_small(), *make_images(100), CFG,
            Targets(torch.zeros(100, 10), 2.0, 0.5, {"t": torch.zeros(100, 3)}, (("nope", "t"),)))


def test_save_and_load_classifier_roundtrip(tmp_path):
    from distill.models import build_classifier

    m = build_classifier("mlp-800")
    save_classifier(m, tmp_path / "m", "mlp-800", 10)
    loaded, meta = load_classifier(tmp_path / "m")
    x = torch.rand(4, 28, 28)
    torch.testing.assert_close(loaded(x), m.eval()(x))
    assert meta["arch"] == "mlp-800"
    with pytest.raises(FileNotFoundError, match="not a saved classifier"):
        load_classifier(tmp_path)


DDP_SCRIPT = """
import sys, torch
from accelerate import Accelerator
sys.path.insert(0, {root!r})
from tests.conftest import make_images
from distill.models import MLP
from distill.train.classifier import OptimConfig, Targets, fit
from safetensors.torch import save_file
acc = Accelerator(cpu=True)
x, y = make_images(400, seed=7)
torch.manual_seed(0)
m = MLP(784, (32, 32), 10)
t = Targets(torch.nn.functional.one_hot(y, 10).float() * 3, temperature=2.0, ce_weight=0.3)
fit(m, x, y, OptimConfig(epochs=2, batch_size=40, lr=0.05, seed=1), t, accelerator=acc)
if acc.is_main_process:
    save_file({{k: v.contiguous() for k, v in m.state_dict().items()}}, sys.argv[1])
"""


@pytest.mark.slow
def test_two_cpu_processes_match_one(tmp_path):
    """accelerate launch with 2 CPU processes (DDP, gloo) ends at the weights of a 1-process run."""
    from safetensors.torch import load_file

    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(root=root))
    outs = {}
    for n in (1, 2):
        out = tmp_path / f"w{n}.safetensors"
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", str(n),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               str(script), str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs[n] = load_file(out)
    for k in outs[1]:
        torch.testing.assert_close(outs[2][k], outs[1][k], rtol=1e-4, atol=1e-5)
    assert any(not torch.equal(outs[1][k], torch.zeros_like(outs[1][k])) for k in outs[1])


def test_held_out_evaluation_every_n_steps_matches_a_direct_score():
    """`eval_every` scores the held-out split during training (steps 10, 20 and the last, 24 here); the last
    evaluation equals scoring the trained model directly, and evaluating does not change the training."""
    from dataclasses import replace

    import torch.nn.functional as F

    x, y = make_images(600, 1)
    hx, hy = make_images(100, 7)
    torch.manual_seed(0)
    model = _small()
    cfg = replace(CFG, epochs=2, eval_every=10)  # 12 steps per epoch
    r = fit(model, x, y, cfg, held_out=(hx, hy))
    assert [e["step"] for e in r.evaluations] == [10, 20, 24]
    logits = predict(model, hx)
    assert r.evaluations[-1]["errors"] == count_errors(logits, hy)
    assert r.evaluations[-1]["ce"] == pytest.approx(float(F.cross_entropy(logits, hy)), rel=1e-6)
    assert r.evaluations[0]["ce"] > r.evaluations[-1]["ce"]  # it learned
    torch.manual_seed(0)
    plain = _small()
    fit(plain, x, y, replace(CFG, epochs=2))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values(), strict=True))


def test_classic_train_holds_out_validation_images(idx_dir, tmp_path):
    from distill.data.idx import load_idx_dataset
    from distill.train.classic import split_validation

    train, _, _ = load_idx_dataset(idx_dir)
    kept, (hx, hy) = split_validation(train, 100, seed=0)
    assert len(kept.labels) == 500 and len(hy) == 100
    again, (hx2, _) = split_validation(train, 100, seed=0)
    assert torch.equal(hx, hx2) and torch.equal(kept.images, again.images)
    # every held-out image is gone from the kept ones (the fixture's images are all distinct)
    flat = {tuple(row.tolist()) for row in kept.images.flatten(1)[:, ::7]}
    assert not any(tuple(row.tolist()) in flat for row in hx.flatten(1)[:, ::7])
    with pytest.raises(ValueError, match="validation must be below the 600"):
        split_validation(train, 600, seed=0)

"""`distill experiment weak-teacher`: bits per byte, the baseline cell, OOD transforms, determinism, resume, CLI.

Image path on sklearn's 8×8 digits; LM path on a few hundred bytes of text with tiny Llamas.
"""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from distill.data.idx import ImageSplit, write_idx
from distill.experiments import weak_teacher as wt

TEXT = ("The with statement wraps a block in the methods of a context manager. A for loop walks an "
        "iterable; break leaves it and continue skips to the next item. Functions return None unless "
        "they say otherwise, and a lambda is a small anonymous function. ") * 3
OOD = "NAME ls - list directory contents. SYNOPSIS ls [OPTION]... [FILE]... -a do not ignore entries. " * 4


@pytest.fixture(scope="module")
def digits():
    sk = pytest.importorskip("sklearn.datasets")
    d = sk.load_digits()
    x = torch.tensor(d.images, dtype=torch.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    y = torch.tensor(d.target, dtype=torch.long)
    return ImageSplit(x[:1400], y[:1400]), ImageSplit(x[1400:], y[1400:])


def _image_cfg(out, **kw):
    base = dict(paths=("image",), out=str(out), image_teachers=("8", "64"), image_teacher_epochs=(1, 3),
                image_students=("16", "32-32"), image_student_epochs=3, kd_weights=(0.0, 0.7), image_temperatures=(2.0,),
                ood_shift=1, ood_rotate=15.0)
    return wt.WeakTeacherConfig(**(base | kw))


def _lm_cfg(tmp_path, out, **kw):
    (tmp_path / "in.txt").write_text(TEXT)
    (tmp_path / "ood.txt").write_text(OOD)
    base = dict(paths=("lm",), out=str(out), lm_data=str(tmp_path / "in.txt"), lm_ood_data=str(tmp_path / "ood.txt"),
                lm_teachers=("16x1", "32x1"), lm_teacher_steps=(3,), lm_students=("16x1",), lm_student_steps=3,
                lm_window=16, lm_batch_size=2, lm_vocab=270, lm_eval_windows=4, kd_weights=(0.0, 0.5),
                lm_temperatures=(1.0,))
    return wt.WeakTeacherConfig(**(base | kw))


# ------------------------------------------------------------------ bits per byte


def test_uniform_model_over_bytes_is_8_bits_per_byte():
    ids = torch.randint(0, 256, (3, 7), generator=torch.Generator().manual_seed(0))
    bits, nbytes = wt.bits_and_bytes(torch.zeros(3, 7, 256), ids, torch.ones(256, dtype=torch.long))
    assert nbytes == 3 * 6  # the first token of each window is given, not coded
    assert bits == pytest.approx(3 * 6 * 8.0)

    class Uniform(torch.nn.Module):
        def forward(self, ids, use_cache=False):
            return type("Out", (), {"logits": torch.zeros(*ids.shape, 300)})()  # extra columns are dropped

    assert wt.bits_per_byte(Uniform(), ids, torch.ones(256, dtype=torch.long), batch_size=2) == pytest.approx(8.0)


def test_bits_per_byte_known_probabilities():
    # Token 0 is 1 byte, token 1 is 3 bytes. ids 0 → 1 → 1: p(1) = 1/4 (2 bits), then p(1) = 1/2 (1 bit);
    # 3 bits over the 6 bytes of the two coded tokens = 0.5 bits per byte.
    logits = torch.tensor([[[math.log(3.0), 0.0], [0.0, 0.0], [5.0, -5.0]]])
    bits, nbytes = wt.bits_and_bytes(logits, torch.tensor([[0, 1, 1]]), torch.tensor([1, 3]))
    assert bits == pytest.approx(3.0) and nbytes == 6
    assert bits / nbytes == pytest.approx(0.5)


def test_token_bytes_add_up_to_the_utf8_length():
    tok = wt.make_tokenizer([TEXT, "héllo wörld — ünïcode"], 300)
    nb = wt.token_bytes(tok)
    for text in ("héllo wörld — ünïcode ✓", TEXT[:120], "a\tb\n  c"):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert int(nb[ids].sum()) == len(text.encode("utf-8"))
    assert nb[tok.eos_token_id] == 1  # a special token counts as one separator byte


# ------------------------------------------------------------------ OOD transforms


def test_ood_transforms_are_fixed_and_do_what_they_say(digits):
    _, test = digits
    x = test.images[:50]
    s1, s2 = wt.shift_images(x, 2), wt.shift_images(x, 2)
    assert torch.equal(s1, s2)
    assert torch.equal(s1[:, 2:, 2:], x[:, :-2, :-2]) and s1[:, :2].abs().sum() == 0
    r1, r2 = wt.rotate_images(x, 15.0), wt.rotate_images(x.clone(), 15.0)
    assert torch.equal(r1, r2)
    assert not torch.allclose(r1, x)
    assert torch.allclose(wt.rotate_images(x, 0.0), x, atol=1e-6)
    r90 = wt.rotate_images(x, 90.0)  # a quarter turn maps pixel centres onto pixel centres
    assert any(torch.allclose(r90, torch.rot90(x, k, dims=(1, 2)), atol=1e-5) for k in (1, -1))
    cfg = _image_cfg("unused", ood_shift=2)
    a, b = wt.ood_sets(cfg, test), wt.ood_sets(cfg, test)
    assert sorted(a) == ["rotate15deg", "shift2px"]
    assert all(torch.equal(a[k].images, b[k].images) for k in a)


# ------------------------------------------------------------------ image grid


def test_image_baseline_is_a_plain_ce_fit_and_the_grid_is_deterministic(digits, tmp_path):
    from safetensors.torch import load_file

    from distill.train.classifier import fit

    train, test = digits
    cfg = _image_cfg(tmp_path / "a")
    res = wt.run(cfg, image_data=digits)
    cells = res["paths"]["image"]["per_seed"][0]["cells"]
    assert len(cells) == 2 * (1 + 4)  # 2 students × (alone + 4 teachers × 1 mix)
    # the w = 0 cell: exactly a CE-only fit of the same initialization and data order
    model = wt.build_mlp("16", 64, wt._seed("image student", "16", 0))
    fit(model, train.images, train.labels, wt.image_optim(cfg, 3, wt._seed("order", 0), len(train.labels)))
    saved = load_file(tmp_path / "a" / "runs" / "image" / "seed0" / "s16__alone" / "checkpoint" / "model.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    base = next(c for c in cells if c["student"] == "16" and c["kd_weight"] == 0)
    assert base["in"] == pytest.approx(wt._accuracy(model, test))
    assert base["in"] > 50  # it learned something (10 classes)
    # same seed → same numbers, in another folder
    again = wt.run(replace_out(cfg, tmp_path / "b"), image_data=digits)
    assert again["paths"]["image"]["cells"] == res["paths"]["image"]["cells"]
    assert again["paths"]["image"]["reused_cells"] == 0
    # gains are differences to the same student alone
    agg = res["paths"]["image"]
    b = {c["student"]: c for c in agg["cells"] if c["kd_weight"] == 0}
    for c in agg["cells"]:
        if c["kd_weight"] > 0:
            assert c["gain_in"] == pytest.approx(c["in"] - b[c["student"]]["in"])
    assert set(agg["claims"]) == set(wt.CLAIMS)
    assert (tmp_path / "a" / "gain.png").stat().st_size > 10_000
    assert "| paper's claim |" in (tmp_path / "a" / "results.md").read_text()


def replace_out(cfg, out):
    return replace(cfg, out=str(out))


def test_rerun_skips_finished_cells_and_refuses_other_settings(digits, tmp_path):
    cfg = _image_cfg(tmp_path, image_teachers=("8",), image_teacher_epochs=(1, 2), image_students=("16",))
    first = wt.run(cfg, image_data=digits)
    (tmp_path / "cells" / "image" / "seed0" / "s16__t8_b2__w0.7_T2.json").unlink()  # as if killed before it
    second = wt.run(cfg, image_data=digits)
    assert second["paths"]["image"]["reused_cells"] == 4  # alone, 2 teachers, the b1 cell
    assert second["paths"]["image"]["cells"] == first["paths"]["image"]["cells"]
    with pytest.raises(ValueError, match="image_student_epochs: 3 → 4"):
        wt.run(replace(cfg, image_student_epochs=4), image_data=digits)
    more = wt.run(replace(cfg, seeds=(0, 1)), image_data=digits)  # more seeds are not other settings
    assert more["paths"]["image"]["seeds"] == 2


def test_quick_mode_budget():
    q = wt.WeakTeacherConfig(quick=True).resolved()
    assert q.image_train_subset == 10_000 and q.image_student_epochs == 10
    assert max(q.lm_teacher_steps) <= 400 and q.lm_student_steps <= 200 and len(q.lm_temperatures) == 1
    assert wt.mixes(q, "image")[0] == (0.0, 0.0) and all(w > 0 for w, _ in wt.mixes(q, "image")[1:])
    assert len(wt.mixes(q, "image")) == 1 + 2 * 2 and len(wt.mixes(q, "lm")) == 1 + 2
    with pytest.raises(ValueError, match="kd_weights"):
        wt.WeakTeacherConfig(kd_weights=(0.5,))


# ------------------------------------------------------------------ LM grid


@pytest.mark.slow
def test_lm_baseline_is_a_ce_run_and_the_grid_is_deterministic(tmp_path):
    from safetensors.torch import load_file

    from distill.lm.train import run as lm_train

    cfg = _lm_cfg(tmp_path, tmp_path / "a")
    res = wt.run(cfg)
    agg = res["paths"]["lm"]
    assert len(agg["cells"]) == 1 + 2
    for c in agg["cells"] + agg["teachers"]:
        assert 0 < c["in"] < 12 and 0 < c["ood"] < 12  # bits per byte of a barely trained model: near 8
    seed0 = tmp_path / "a" / "runs" / "lm" / "seed0"
    direct = lm_train(wt.lm_student_cfg(cfg, seed0 / "init" / "student-16x1", tmp_path / "a" / "runs" / "lm" / "corpus"
                                        / "train.txt", 0, tmp_path / "direct", None, 0.0, 0.0))
    assert direct["config"]["loss"] == "ce"
    a = load_file(seed0 / "s16x1__alone" / "model" / "model.safetensors")
    b = load_file(tmp_path / "direct" / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    again = wt.run(replace_out(cfg, tmp_path / "b"))
    assert again["paths"]["lm"]["cells"] == agg["cells"]
    assert again["paths"]["lm"]["teachers"] == agg["teachers"]


# ------------------------------------------------------------------ CLI


@pytest.mark.slow
def test_cli_runs_a_tiny_config(digits, tmp_path):
    from distill.cli import main

    data = tmp_path / "idx"
    data.mkdir()
    for prefix, split in (("train", digits[0]), ("t10k", digits[1])):
        write_idx(data / f"{prefix}-images-idx3-ubyte", (split.images.numpy() * 255).round().astype(np.uint8))
        write_idx(data / f"{prefix}-labels-idx1-ubyte", split.labels.numpy().astype(np.uint8))
    (tmp_path / "in.txt").write_text(TEXT)
    (tmp_path / "ood.txt").write_text(OOD)
    out = tmp_path / "out"
    rc = main(["experiment", "weak-teacher", "--data-dir", str(data), "--image-teachers", "8",
               "--image-teacher-epochs", "1", "--image-students", "16", "--image-student-epochs", "2",
               "--kd-weights", "0", "0.5", "--image-temperatures", "2", "--lm-data", str(tmp_path / "in.txt"),
               "--lm-ood-data", str(tmp_path / "ood.txt"), "--lm-teachers", "16x1", "--lm-teacher-steps", "2",
               "--lm-students", "16x1", "--lm-student-steps", "2", "--lm-temperatures", "1", "--lm-window", "16", "--lm-batch-size", "2",
               "--lm-vocab", "270", "--lm-eval-windows", "2", "--out", str(out), "-q"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["paths"]) == {"image", "lm"}
    assert res["paths"]["image"]["dataset"] == "idx"
    assert len(res["paths"]["lm"]["cells"]) == 2 and len(res["paths"]["image"]["cells"]) == 2
    assert (out / "gain.png").exists() and "LM path" in (out / "results.md").read_text()


def test_claims_read_the_grid():
    """A hand-made LM grid (bits per byte): the weak teacher (worse than the student alone) helps, the strongest
    helps less than a weaker one, and the gain is larger out of domain."""
    def cell(student, teacher, budget, w, bpb_in, bpb_ood):
        return {"student": student, "teacher": teacher, "budget": budget, "kd_weight": w,
                "temperature": 1.0 if w else None, "in": bpb_in, "ood": bpb_ood}

    run = {"teachers": [{"size": "16x1", "budget": 10, "in": 3.5, "ood": 4.0},
                        {"size": "64x4", "budget": 100, "in": 2.0, "ood": 3.0}],
           "cells": [cell("32x2", None, None, 0, 3.0, 4.0), cell("32x2", "16x1", 10, 0.5, 2.9, 3.7),
                     cell("32x2", "64x4", 100, 0.5, 2.95, 3.8)],
           "reused": 0, "seconds": 1.0, "cpu_seconds": 1.0}
    agg = wt.aggregate_path("lm", [run])
    gains = {c["teacher"]: (c["gain_in"], c["gain_ood"]) for c in agg["cells"] if c["kd_weight"]}
    assert gains["16x1"] == pytest.approx((0.1, 0.3)) and gains["64x4"] == pytest.approx((0.05, 0.2))
    assert {k: v["seen"] for k, v in agg["claims"].items()} == {
        "weak_teacher_helps": True, "strong_teacher_saturates": True, "gain_larger_ood": True}
    run["cells"][1] = cell("32x2", "16x1", 10, 0.5, 3.1, 4.2)  # now the weak teacher hurts
    agg = wt.aggregate_path("lm", [run])
    assert {k: v["seen"] for k, v in agg["claims"].items()} == {
        "weak_teacher_helps": False, "strong_teacher_saturates": False, "gain_larger_ood": False}

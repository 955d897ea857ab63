import json

import pytest
import torch

from distill.experiments import hinton
from distill.experiments.hinton import HintonConfig, choose_bias


def test_choose_bias_undoes_a_known_shift_on_training_data():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (2000,), generator=g)
    logits = torch.nn.functional.one_hot(y, 5).float() * 3 + torch.randn(2000, 5, generator=g) * 0.5
    logits[:, 3] -= 4.0  # class 3 suppressed, as after training without it
    b = choose_bias(logits, y, 3)
    assert 3.0 <= b <= 5.0
    shifted = logits.clone()
    shifted[:, 3] += b
    assert (shifted.argmax(1) == y).float().mean() > 0.99


def test_quick_resolution_and_auto_teacher():
    cfg = HintonConfig(quick=True, seeds=(4, 5)).resolved("fashion-mnist")
    assert cfg.teacher == "cnn" and cfg.seeds == (4,) and cfg.student_epochs == 20 and cfg.train_subset == 10_000
    assert cfg.temperature in cfg.sweep
    assert HintonConfig().resolved("mnist").teacher == "mlp"


@pytest.mark.slow
def test_end_to_end_on_idx_files(idx_dir, tmp_path):
    out = tmp_path / "run"
    cfg = HintonConfig(data_dir=str(idx_dir), teacher="mlp", seeds=(0, 1), teacher_epochs=2, student_epochs=2,
                       sweep=(2.0, 20.0), out=str(out))
    res = hinton.run(cfg)
    saved = json.loads((out / "results.json").read_text())
    assert saved["dataset"] == idx_dir.name and saved["teacher"] == "mlp" and saved["seeds"] == [0, 1]
    for key in ("teacher_errors", "student_errors", "distilled_errors"):
        per = [r[key] for r in saved["per_seed"]]
        assert saved[key] == pytest.approx(sum(per) / 2)
        assert all(0 <= v <= 200 for v in per)
    # the sweep runs on the first seed only (sweep_seeds=1); T = 20 on every seed
    assert [set(r["temperature_sweep"]) for r in saved["per_seed"]] == [{"2", "20"}, {"20"}]
    assert saved["temperature_sweep"]["2"] == saved["per_seed"][0]["temperature_sweep"]["2"]
    assert saved["temperature_sweep_seeds"] == {"2": 1, "20": 2}
    for r in saved["per_seed"]:
        assert r["temperature_sweep"]["20"] == r["distilled_errors"]
        gap = r["student_errors"] - r["teacher_errors"]
        if gap:
            assert r["gap_closed"] == pytest.approx((r["student_errors"] - r["distilled_errors"]) / gap)
        oc = r["omitted_class"]
        assert oc["class"] == 3 and 0 <= oc["class_errors_before"] <= oc["class_test_count"]
        assert oc["bias"] in [b / 4 for b in range(41)]
    assert (out / "temperature.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "results.md").read_text()
    assert "| 146 |" in md and "teacher" in md
    assert res["improvement"] == pytest.approx(res["student_errors"] - res["distilled_errors"])


def test_class_balanced_subset():
    from distill.experiments.hinton import class_balanced_subset

    labels = torch.tensor([0, 1, 1, 0, 2, 2, 1, 0, 2, 0])
    rows = class_balanced_subset(labels, 6)
    assert rows.tolist() == [0, 1, 2, 3, 4, 5]  # the first two of each class, in data-set order
    assert labels[rows].bincount().tolist() == [2, 2, 2]


def test_packaged_teacher_is_strong_on_fashion_mnist():
    from distill.data.idx import FASHION_MNIST_DIR, load_idx_dataset
    from distill.experiments.hinton import packaged_teacher
    from distill.train.classifier import count_errors, load_classifier, predict

    path = packaged_teacher()
    assert path is not None, "src/distill/assets/fashion_mnist_cnn_teacher is missing"
    model, meta = load_classifier(path)
    assert meta["arch"] == "cnn"
    if not FASHION_MNIST_DIR.exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    _, test, _ = load_idx_dataset()
    errors = count_errors(predict(model, test.images), test.labels)
    assert errors < 650  # measured 587 (fp16 export of the seed-0 teacher of the full run)


def test_validation_split_is_a_fixed_disjoint_draw():
    from distill.experiments.hinton import validation_split

    fit_rows, held = validation_split(1000, 100)
    assert len(held) == 100 and len(fit_rows) == 900
    assert torch.equal(torch.cat([fit_rows, held]).sort().values, torch.arange(1000))
    assert torch.equal(held, validation_split(1000, 100)[1])  # the same draw every time
    assert held.tolist() != list(range(100))  # random, not the first rows
    with pytest.raises(ValueError, match="holds out 1000 of 1000"):
        validation_split(1000, 1000)
    with pytest.raises(ValueError, match="validation"):
        HintonConfig(validation=10)


@pytest.mark.slow
def test_temperature_and_alpha_chosen_on_held_out_training_images(idx_dir, tmp_path):
    out = tmp_path / "run"
    cfg = HintonConfig(data_dir=str(idx_dir), teacher="mlp", seeds=(0,), teacher_epochs=2, student_epochs=2,
                       sweep=(2.0, 20.0), ce_weight=0.1, validation=200, select_ce_weights=(0.1, 0.5), out=str(out))
    res = hinton.run(cfg)
    sel = res["selected"]
    assert set(sel["grid"]) == {"2", "20"} and all(set(g) == {"0.1", "0.5"} for g in sel["grid"].values())
    errors = {(float(T), float(a)): e for T, g in sel["grid"].items() for a, e in g.items()}
    assert sel["validation_errors"] == min(errors.values()) == errors[(sel["temperature"], sel["ce_weight"])]
    assert all(0 <= e <= 200 for e in errors.values())
    # the validation teacher learnt from the 400 other images only (its checkpoint records the row count)
    state = json.loads((out / "validation" / "seed0" / "teacher0" / "checkpoint" / "state.json").read_text())
    assert state["settings"]["rows"] == 400
    seed0 = res["per_seed"][0]
    if sel["ce_weight"] == 0.1:  # the sweep already trained this student on the full transfer set
        assert seed0["selected_distilled_errors"] == seed0["temperature_sweep"][f"{sel['temperature']:g}"]
    else:
        assert (out / "seed0" / f"distilled_T{sel['temperature']:g}_alpha0.5" / "checkpoint").is_dir()
    assert sel["improvement"] == seed0["student_errors"] - seed0["selected_distilled_errors"]
    assert json.loads((out / "validation.json").read_text())["grid"] == sel["grid"]
    md = (out / "results.md").read_text()
    assert "chosen on 200 held-out training images" in md and "| α \\ T | 2 | 20 |" in md

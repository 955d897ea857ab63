"""results.md of the Hinton experiment: counts as integers, ± only when there are seeds to spread."""

import logging

import pytest

from distill.experiments import hinton
from distill.experiments.hinton import HintonConfig, aggregate, markdown


def seed_result(seed: int, teacher: int, student: int, distilled: int) -> dict:
    return {"seed": seed, "teacher": "CNN, packaged", "teacher_errors": teacher, "student_errors": student,
            "distilled_errors": distilled, "temperature_sweep": {"2": distilled + 30, "20": distilled},
            "omitted_class": {"class": 3, "errors_before": 1500, "class_errors_before": 900, "errors_after": 1190,
                              "class_errors_after": 130, "bias": 3.5, "class_test_count": 1000}}


def test_one_seed_shows_plain_integer_counts():
    cfg = HintonConfig(sweep=(2.0, 20.0), quick=True)
    md = markdown(aggregate([seed_result(0, 587, 1203, 1090)], "fashion-mnist", cfg, 61.0))
    assert "· 1 seed ·" in md and "±" not in md
    assert "| teacher | 587 | 67 |" in md
    assert "| student alone (800-800, hard labels) | 1203 | 146 |" in md
    assert "| distilled student (T = 20) | 1090 | 74 |" in md
    assert "| 1500 (900) | 206 (133) |" in md and "| 1190 (130) | 109 (14), bias 3.5 |" in md
    assert "| distilled errors | 1120 | 1090 |" in md
    assert ".0 " not in md and ".0)" not in md and ".0 |" not in md


def test_several_seeds_show_mean_and_spread():
    cfg = HintonConfig(sweep=(2.0, 20.0))
    per_seed = [seed_result(0, 580, 1200, 1090), seed_result(1, 590, 1211, 1095)]
    per_seed[1]["temperature_sweep"] = {"20": 1095}  # the sweep ran on the first seed only
    md = markdown(aggregate(per_seed, "fashion-mnist", cfg, 120.0))
    assert "· 2 seeds (mean ± std) ·" in md
    assert "| teacher | 585.0 ± 7.1 | 67 |" in md  # stdev of 580, 590 = 7.07
    assert "| student alone (800-800, hard labels) | 1205.5 ± 7.8 | 146 |" in md
    # a mean over seeds keeps its decimal even when whole; a sweep point of one seed is a count
    assert "| 1500.0 (900.0) | 206 (133) |" in md
    assert "| distilled errors | 1120 | 1092.5 |" in md
    assert "| seeds | 1 | 2 |" in md


@pytest.mark.parametrize("v, seeds, shown", [(587.0, 1, "587"), (587, 1, "587"), (587.5, 1, "587.5"),
                                              (953.0, 3, "953.0"), (1092.25, 2, "1092.2")])
def test_count(v, seeds, shown):
    assert hinton.count(v, seeds) == shown


@pytest.mark.slow
def test_stage_lines_and_a_resumed_run_reuses_the_teacher_logits(idx_dir, tmp_path, monkeypatch, caplog):
    from distill.models import build_classifier
    from distill.train.classifier import save_classifier

    save_classifier(build_classifier("mlp-800", seed=0), tmp_path / "teacher", "mlp-800", 10)
    cfg = HintonConfig(data_dir=str(idx_dir), teacher_checkpoint=str(tmp_path / "teacher"), student_epochs=1,
                       sweep=(2.0, 20.0), out=str(tmp_path / "run"))
    caplog.set_level(logging.INFO, logger="distill")
    hinton.run(cfg)
    stages = [r.getMessage() for r in caplog.records if r.name == "distill.experiments.hinton"]
    # one line per stage, each with its result (the first: which teacher was loaded)
    assert [m.split(" test errors")[0].rsplit(":", 1)[0] for m in stages] == [
        "teacher", "seed 0: teacher", "seed 0: student alone",
        "seed 0: temperature sweep (α = 0.1)", "seed 0: omitted class 3"]
    assert stages[3].startswith("seed 0: temperature sweep (α = 0.1): T=2 ") and ", T=20 " in stages[3]
    assert "before" in stages[4] and "after raising its bias by" in stages[4]
    teacher_passes = []
    real = hinton.predict
    monkeypatch.setattr(hinton, "predict", lambda m, x, **kw: (teacher_passes.append(kw.get("desc")), real(m, x, **kw))[1])
    caplog.clear()
    hinton.run(cfg)  # the same --out again
    assert "teacher" not in teacher_passes and "eval" in teacher_passes
    assert "teacher logits: loaded from" in caplog.text

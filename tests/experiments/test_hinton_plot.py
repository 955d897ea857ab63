"""The Hinton demo's plot, drawn from results shaped like a real --quick run's, stays readable."""

import pytest

from distill.experiments import hinton
from tests.plots import assert_readable, problems


def quick_result(teacher: str = "CNN, packaged", selected: bool = False) -> dict:
    # Numbers of a measured --quick run on Fashion-MNIST (one seed).
    res = {"dataset": "fashion-mnist", "teacher": teacher, "teacher_errors": 587.0, "student_errors": 1203.0,
           "temperature_sweep": {"1": 1150.0, "2": 1101.0, "4": 1080.0, "8": 1072.0, "20": 1090.0},
           "config": {"ce_weight": 0.1}}
    if selected:
        res["selected"] = {"temperature": 8.0, "ce_weight": 0.5, "distilled_errors": 1066.0, "images": 5000,
                           "student_errors": 612, "validation_errors": 540,
                           "grid": {T: {"0.1": 560 + i, "0.5": 545 + i, "0.9": 580 + i}
                                    for i, T in enumerate(("1", "2", "4", "8", "20"))}}
    return res


@pytest.mark.parametrize("selected", [False, True])
def test_temperature_plot_is_readable(selected):
    assert_readable(hinton.figure(quick_result(selected=selected)))


def test_a_long_teacher_name_still_fits():
    # a user's own checkpoint, named by its folder: the legend must wrap or move, not overflow
    fig = hinton.figure(quick_result(teacher="CNN, from fashion_mnist_cnn_teacher_seed3_epochs40_jitter2", selected=True))
    assert problems(fig) == []


def test_plot_writes_a_png(tmp_path):
    hinton.plot(quick_result(), tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_teacher_labels_name_the_folder_not_its_path():
    assert hinton.teacher_label("cnn", "/usr/lib/python3/site-packages/distill/assets/t", packaged=True) == "CNN, packaged"
    assert hinton.teacher_label("mlp-1200", "/home/me/runs/teacher7/", packaged=False) == "MLP-1200, from teacher7"

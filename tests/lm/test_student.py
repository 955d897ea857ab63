import json

import pytest
import torch

from distill.lm.student import build_student, cut_state_dict, select_layers

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize(
    "rule,expected",
    [
        ("every-other", [0, 2, 4, 6, 8]),
        ("first-3", [0, 1, 2]),
        ("last-3", [7, 8, 9]),
        ("last-half", [5, 6, 7, 8, 9]),
        ("3", [0, 4, 9]),  # evenly spaced, first and last kept: round(0, 4.5, 9)
        ("1", [0]),
        ("10", list(range(10))),
        ("7,1,1,3", [1, 3, 7]),
    ],
)
def test_select_layers(rule, expected):
    assert select_layers(10, rule) == expected


@pytest.mark.parametrize("rule,match", [("11", "keep between 1 and 10"), ("0,12", "outside"), ("last-12", "outside"), ("half", "not a rule")])
def test_select_layers_errors(rule, match):
    with pytest.raises(ValueError, match=match):
        select_layers(10, rule)


def test_cut_state_dict_renumbers_layers():
    state = {"model.embed_tokens.weight": torch.zeros(1), "lm_head.weight": torch.ones(1)}
    for i in range(4):
        state[f"model.layers.{i}.mlp.up_proj.weight"] = torch.full((1,), float(i))
    cut = cut_state_dict(state, [1, 3])
    assert sorted(cut) == ["lm_head.weight", "model.embed_tokens.weight",
                           "model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight"]
    assert cut["model.layers.0.mlp.up_proj.weight"].item() == 1 and cut["model.layers.1.mlp.up_proj.weight"].item() == 3


def test_build_student_copies_the_kept_layers(tiny_teacher, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = build_student(str(tiny_teacher), "every-other", tmp_path / "s")
    assert info["kept_layers"] == [0, 2] and info["teacher_layers"] == 4
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher)
    student = AutoModelForCausalLM.from_pretrained(tmp_path / "s")
    assert student.config.num_hidden_layers == 2
    t, s = teacher.state_dict(), student.state_dict()
    for name in ("self_attn.q_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight"):
        assert torch.equal(s[f"model.layers.1.{name}"], t[f"model.layers.2.{name}"])
    assert torch.equal(s["lm_head.weight"], t["lm_head.weight"])
    assert info["student_parameters"] < info["teacher_parameters"]
    # the teacher's tokenizer comes along, unchanged
    assert AutoTokenizer.from_pretrained(tmp_path / "s").get_vocab() == AutoTokenizer.from_pretrained(tiny_teacher).get_vocab()
    assert json.loads((tmp_path / "s" / "distill_student.json").read_text())["rule"] == "every-other"


def test_cli_lm_student(tiny_teacher, tmp_path, capsys):
    from distill.cli import main

    assert main(["lm", "student", "--from", str(tiny_teacher), "--layers", "3", "--out", str(tmp_path / "s"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kept_layers"] == [0, 2, 3]  # round(0, 1.5, 3)
    assert main(["lm", "student", "--from", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "neither a folder" in capsys.readouterr().err

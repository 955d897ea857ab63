import json

import pytest
import torch

from distill.lm.prune import estimate_importance, plan, prune_model, top
from tests.lm.tiny import TEXT

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    p = tmp_path_factory.mktemp("calib") / "corpus.txt"
    p.write_text("\n\n".join(TEXT))
    return p


def _teacher(tiny_teacher):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_teacher).eval()


def _windows(tiny_teacher, corpus, n=8, window=16):
    from transformers import AutoTokenizer

    from distill.lm.corpus import pack_windows

    return pack_windows(corpus, AutoTokenizer.from_pretrained(tiny_teacher), window, max_windows=n)


def _logits(model, x):
    with torch.no_grad():
        return model(input_ids=x).logits


def test_top_keeps_the_highest_and_breaks_ties_by_index():
    assert top(torch.tensor([0.5, 2.0, 0.5, 1.0]), 2) == [1, 3]
    assert top(torch.tensor([1.0, 1.0, 1.0]), 2) == [0, 1]  # equal scores: the lower indices


def test_dead_structures_score_zero_and_are_pruned_first(tiny_teacher, corpus):
    model = _teacher(tiny_teacher)
    L1 = model.model.layers[1]
    with torch.no_grad():
        L1.mlp.gate_proj.weight[5].zero_()          # MLP channel 5 of layer 1: silu(0) · up = 0 everywhere
        L1.self_attn.v_proj.weight[16:32].zero_()   # KV group 1 of layer 1 (head_dim 16): its 2 query heads output 0
        model.model.embed_tokens.weight[:, 7].zero_()  # hidden channel 7: 0 in the embedding and every norm
        for layer in model.model.layers:
            layer.input_layernorm.weight[7] = 0
            layer.post_attention_layernorm.weight[7] = 0
        model.model.layers[2].self_attn.o_proj.weight.zero_()  # layer 2 adds nothing: h_out = h_in
        model.model.layers[2].mlp.down_proj.weight.zero_()
    imp = estimate_importance(model, _windows(tiny_teacher, corpus))
    assert imp.mlp[1][5] == 0 and (imp.mlp[1] > 0).sum() == 127
    assert imp.heads[1][2] == 0 and imp.heads[1][3] == 0 and (imp.heads[1][:2] > 0).all()
    assert imp.hidden[7] == 0 and (imp.hidden > 0).sum() == 63
    assert abs(imp.layers[2]) < 1e-9 and (imp.layers[[0, 1, 3]] > 0).all()
    pmap = plan(imp, model.config, mlp=1 / 128, heads=0.5, hidden=1 / 64, layers=1)
    assert pmap["layers"] == [0, 1, 3]
    assert pmap["per_layer"]["1"]["mlp"] == [i for i in range(128) if i != 5]
    assert pmap["per_layer"]["1"]["kv_groups"] == [0]
    assert pmap["hidden"] == [i for i in range(64) if i != 7]


def test_keeping_everything_reproduces_the_logits_exactly(tiny_teacher, corpus):
    model = _teacher(tiny_teacher)
    x = _windows(tiny_teacher, corpus)
    student = prune_model(model, plan(estimate_importance(model, x), model.config))
    assert torch.equal(_logits(student, x), _logits(model, x))


def test_pruning_equals_zeroing_what_was_removed(tiny_teacher, corpus):
    """Removing MLP channels or KV groups is the same function as the teacher with their outputs zeroed
    (hidden channels are not: RMSNorm then averages over fewer channels)."""
    model = _teacher(tiny_teacher)
    x = _windows(tiny_teacher, corpus)
    pmap = plan(estimate_importance(model, x), model.config, mlp=0.5, heads=0.5, layers=1)
    student = prune_model(model, pmap)
    assert student.config.intermediate_size == 64 and student.config.num_key_value_heads == 1
    assert student.config.num_attention_heads == 2 and student.config.head_dim == 16
    assert student.config.num_hidden_layers == 3
    masked = _teacher(tiny_teacher)
    with torch.no_grad():
        for i, layer in enumerate(masked.model.layers):
            if i not in pmap["layers"]:  # a removed layer: zero its residual contributions
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
                continue
            keep = pmap["per_layer"][str(i)]
            drop_mlp = [c for c in range(128) if c not in keep["mlp"]]
            layer.mlp.down_proj.weight[:, drop_mlp] = 0
            for g in range(2):
                if g not in keep["kv_groups"]:  # query heads 2g, 2g+1 (head_dim 16) feed o_proj columns 32g..32g+31
                    layer.self_attn.o_proj.weight[:, 32 * g:32 * (g + 1)] = 0
    assert torch.allclose(_logits(student, x), _logits(masked, x), atol=1e-4)


def test_importance_is_deterministic(tiny_teacher, corpus):
    model = _teacher(tiny_teacher)
    x = _windows(tiny_teacher, corpus)
    a, b = estimate_importance(model, x), estimate_importance(model, x, batch_size=3)
    for u, v in zip(a.mlp + a.heads + [a.hidden, a.layers], b.mlp + b.heads + [b.hidden, b.layers], strict=True):
        assert torch.allclose(u, v, rtol=1e-5)
    assert torch.equal(estimate_importance(model, x).layers, a.layers)


def test_cli_prune_writes_a_folder_that_reloads_generates_and_trains(tiny_teacher, corpus, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.cli import main
    from distill.lm.train import LMTrainConfig
    from distill.lm.train import run as train

    out = tmp_path / "s"
    assert main(["lm", "student", "--from", str(tiny_teacher), "--prune", "--prune-mlp", "0.5", "--prune-heads", "0.5",
                 "--prune-hidden", "0.25", "--prune-layers", "1", "--calibration", str(corpus),
                 "--calibration-window", "16", "--calibration-windows", "8", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"] == {"hidden_size": 48, "intermediate_size": 64, "num_attention_heads": 2,
                             "num_key_value_heads": 1, "num_hidden_layers": 3, "head_dim": 16}
    assert info["student_parameters"] < info["teacher_parameters"]
    saved = json.loads((out / "distill_student.json").read_text())
    assert len(saved["map"]["hidden"]) == 48 and saved["map"]["layers"] == info["kept_layers"]
    student = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    x = tok("The student matches", return_tensors="pt")
    y = student.generate(**x, max_new_tokens=5, do_sample=False, pad_token_id=tok.eos_token_id)
    assert y.shape[1] == x["input_ids"].shape[1] + 5
    res = train(LMTrainConfig(teacher=str(tiny_teacher), student=str(out), data=str(corpus), window=16, batch_size=2,
                              steps=2, warmup=1, checkpoint_every=0, tensorboard=False, out=str(tmp_path / "heal")))
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "heal" / "model").config.hidden_size == 48
    assert res is not None


def test_prune_options_need_prune_and_valid_values(tiny_teacher, tmp_path, capsys):
    from distill.cli import main

    assert main(["lm", "student", "--from", str(tiny_teacher), "--prune-mlp", "0.5", "--out", str(tmp_path / "x")]) == 2
    assert "need --prune" in capsys.readouterr().err
    assert main(["lm", "student", "--from", str(tiny_teacher), "--prune", "--prune-mlp", "1", "--out",
                 str(tmp_path / "x")]) == 2
    assert "prune_mlp" in capsys.readouterr().err
    model = _teacher(tiny_teacher)
    imp = estimate_importance(model, torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="prune_layers must be in 0..3"):
        plan(imp, model.config, layers=4)

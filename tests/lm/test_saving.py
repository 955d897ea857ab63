"""Students with tied embeddings (SmolLM2's `tie_word_embeddings`) save quietly and reload exactly."""

import logging

import pytest
import torch

from distill.lm.student import build_student
from distill.lm.train import LMTrainConfig, run
from tests.lm.tiny import TEXT, make_llama, make_tokenizer

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tied(tmp_path_factory):
    d = tmp_path_factory.mktemp("tied")
    make_llama(d / "teacher", make_tokenizer(TEXT), layers=4, tie=True)
    (d / "corpus.txt").write_text("\n\n".join(TEXT))
    return d


def _no_warnings(caplog, recwarn):
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [] and [str(w.message) for w in recwarn] == []


def test_a_tied_student_is_saved_once_and_reloads_with_identical_logits(tied, tmp_path, caplog, recwarn):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    caplog.set_level(logging.WARNING)
    build_student(str(tied / "teacher"), "every-other", tmp_path / "s")
    _no_warnings(caplog, recwarn)
    with safe_open(tmp_path / "s" / "model.safetensors", "pt") as f:
        keys = set(f.keys())
    assert "model.embed_tokens.weight" in keys and "lm_head.weight" not in keys  # stored once
    s = AutoModelForCausalLM.from_pretrained(tmp_path / "s").eval()
    assert s.config.tie_word_embeddings and s.lm_head.weight.data_ptr() == s.model.embed_tokens.weight.data_ptr()
    s.save_pretrained(tmp_path / "again")
    _no_warnings(caplog, recwarn)
    x = torch.arange(12)[None]
    with torch.no_grad():
        assert torch.equal(AutoModelForCausalLM.from_pretrained(tmp_path / "again")(x).logits, s(x).logits)


def test_training_a_tied_student_checkpoints_and_saves_without_warnings(tied, tmp_path, caplog, recwarn):
    """accelerate's checkpoints used to log `Removed shared tensor {'lm_head.weight'} while saving` each time."""
    from transformers import AutoModelForCausalLM

    build_student(str(tied / "teacher"), "every-other", tmp_path / "s")
    cfg = LMTrainConfig(teacher=str(tied / "teacher"), student=str(tmp_path / "s"), data=str(tied / "corpus.txt"),
                        window=16, batch_size=4, steps=4, lr=1e-3, warmup=1, checkpoint_every=1, out=str(tmp_path / "o"))
    caplog.set_level(logging.WARNING)
    assert run(cfg, stop_after_steps=2)["steps"] == 2  # two checkpoints, then a resume through the tied state
    assert run(cfg)["completed"]
    _no_warnings(caplog, recwarn)
    m = AutoModelForCausalLM.from_pretrained(tmp_path / "o" / "model")
    assert torch.equal(m.lm_head.weight, m.model.embed_tokens.weight)
    assert not torch.equal(m.model.embed_tokens.weight,
                           AutoModelForCausalLM.from_pretrained(tmp_path / "s").model.embed_tokens.weight)  # trained

"""`distill lm train` on the fused loss (the default) against the logits path: the same training."""

import csv

import pytest
import torch

from distill.lm.student import build_student
from distill.lm.train import LMTrainConfig, output_layer, run
from tests.lm.tiny import TEXT, make_llama, make_tokenizer

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def setup(tiny_teacher, tmp_path_factory):
    d = tmp_path_factory.mktemp("lmfused")
    (d / "corpus.txt").write_text("\n\n".join(TEXT))
    build_student(str(tiny_teacher), "every-other", d / "student")
    return d


def _cfg(setup, teacher, out, **kw):
    base = dict(teacher=str(teacher), student=str(setup / "student"), data=str(setup / "corpus.txt"), window=16,
                batch_size=4, steps=3, lr=1e-3, warmup=1, chunk_size=8, checkpoint_every=0, tensorboard=False,
                out=str(out))
    base.update(kw)
    return LMTrainConfig(**base)


def _rows(out):
    return list(csv.DictReader(open(out / "metrics.csv")))


def _weights(out):
    from safetensors.torch import load_file

    return load_file(out / "model" / "model.safetensors")


def test_fused_training_equals_training_from_logits(setup, tiny_teacher, tmp_path):
    """jsd + 0.3 × CE with a live teacher, on a student with tied embeddings: the fused default (student and
    teacher from hidden states) and --no-fused-loss give the same per-step metrics and the same trained
    weights (fp32 rounding). The untied case is every other test of tests/lm/test_train.py (fused by default)."""
    student = make_llama(tmp_path / "tied", make_tokenizer(TEXT), layers=2, tie=True, seed=1)
    kw = dict(student=str(student), loss="jsd", beta=0.3, temperature=2.0, ce_weight=0.3)
    fused = run(_cfg(setup, tiny_teacher, tmp_path / "f", **kw))
    plain = run(_cfg(setup, tiny_teacher, tmp_path / "p", fused_loss=False, **kw))
    assert fused["loss_path"] == "fused" and plain["loss_path"] == "logits"
    for a, b in zip(_rows(tmp_path / "f"), _rows(tmp_path / "p"), strict=True):
        for k in ("loss", "divergence", "ce"):
            assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-4, abs=1e-6), k
        assert float(a["ce"]) > 0
    wf, wp = _weights(tmp_path / "f"), _weights(tmp_path / "p")
    assert "lm_head.weight" not in wf  # stored once: the head is the embedding
    changed = 0
    for k in wp:
        torch.testing.assert_close(wf[k], wp[k], rtol=1e-3, atol=1e-5)
        changed += not torch.equal(wp[k], _weights_of(student)[k])
    assert changed == len(wp)  # every tensor trained, the tied embedding included


def _weights_of(folder):
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


class _Scaled(torch.nn.Module):
    """A causal LM whose logits are NOT its output layer on the last hidden states (scaled, as Gemma 2's
    soft-capping or Cohere's logit_scale are): the fused loss must not be used on it."""

    def __init__(self, scale):
        super().__init__()
        self.emb, self.head, self.scale = torch.nn.Embedding(11, 4), torch.nn.Linear(4, 11, bias=False), scale

    def get_output_embeddings(self):
        return self.head

    def forward(self, ids, use_cache=False, output_hidden_states=False, logits_to_keep=0):
        h = self.emb(ids)
        return type("Out", (), {"logits": self.head(h) * self.scale, "hidden_states": (h,)})()


def test_output_layer_is_checked_against_the_models_own_logits():
    probe = torch.tensor([[1, 2, 3]])
    assert output_layer(_Scaled(1.0), probe, 11) is not None
    assert output_layer(_Scaled(0.5), probe, 11) is None  # logits scaled: fused would be wrong
    assert output_layer(torch.nn.Linear(2, 2), probe) is None  # no get_output_embeddings at all

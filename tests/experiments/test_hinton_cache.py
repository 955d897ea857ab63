"""Teacher logits are computed once per teacher and data, and recomputed (with a reason) when either changes."""

import logging
import shutil

import pytest
import torch

from distill.data.idx import ImageSplit
from distill.experiments import hinton
from distill.experiments.hinton import HintonConfig
from distill.models import build_classifier
from distill.train.classifier import save_classifier
from tests.conftest import make_images


@pytest.fixture
def splits():
    return ImageSplit(*make_images(300, seed=1)), ImageSplit(*make_images(100, seed=2))


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = hinton.predict

    def predict(model, images, **kw):
        calls.append(len(images))
        return real(model, images, **kw)

    monkeypatch.setattr(hinton, "predict", predict)
    return calls


def _teacher(path, seed):
    save_classifier(build_classifier("mlp-800", seed=seed), path, "mlp-800", 10, seed=seed)
    return str(path)


def test_a_loaded_teachers_logits_are_cached_and_a_changed_teacher_invalidates_them(tmp_path, splits, counted, caplog):
    train, test = splits
    cfg = HintonConfig(teacher_checkpoint=_teacher(tmp_path / "teacher", 0), out=str(tmp_path / "run"))
    caplog.set_level(logging.INFO, logger="distill")
    first = hinton.get_teacher_logits(cfg, 0, train, test, tmp_path / "run")
    assert counted == [300, 100]  # one pass over the transfer set, one over the test set
    assert (tmp_path / "run" / "teacher_logits.safetensors").exists()
    assert not list((tmp_path / "run").glob("*.tmp"))

    again = hinton.get_teacher_logits(cfg, 1, train, test, tmp_path / "run")  # another seed: the same teacher
    assert counted == [300, 100]  # no new predictions
    assert torch.equal(again[0][0], first[0][0]) and torch.equal(again[1][0], first[1][0])
    assert again[2] == first[2] == "MLP-800, from teacher"
    assert "teacher logits: loaded from" in caplog.text

    _teacher(tmp_path / "teacher", 1)  # the same folder, other weights
    changed = hinton.get_teacher_logits(cfg, 0, train, test, tmp_path / "run")
    assert counted == [300, 100, 300, 100]
    assert "is stale (teacher checkpoint changed); recomputing" in caplog.text
    assert not torch.equal(changed[0][0], first[0][0])


def test_other_data_invalidates_the_cache(tmp_path, splits, counted, caplog):
    train, test = splits
    cfg = HintonConfig(teacher_checkpoint=_teacher(tmp_path / "teacher", 0))
    hinton.get_teacher_logits(cfg, 0, train, test, tmp_path)
    caplog.set_level(logging.INFO, logger="distill")
    fewer = ImageSplit(train.images[:200], train.labels[:200])
    logits = hinton.get_teacher_logits(cfg, 0, fewer, test, tmp_path)
    assert counted == [300, 100, 200, 100] and logits[0][0].shape == (200, 10)
    assert "is stale (train data changed); recomputing" in caplog.text


def test_trained_teachers_are_stamped_with_their_settings(tmp_path, splits, counted, caplog):
    train, test = splits
    cfg = HintonConfig(teacher="mlp", teacher_epochs=1)
    hinton.get_teacher_logits(cfg, 0, train, test, tmp_path)
    assert (tmp_path / "seed0" / "teacher_logits.safetensors").exists() and counted == [300, 100]
    hinton.get_teacher_logits(cfg, 0, train, test, tmp_path)
    assert counted == [300, 100]
    caplog.set_level(logging.INFO, logger="distill")
    shutil.rmtree(tmp_path / "seed0" / "teacher0")  # else fit refuses to resume a run with other settings
    hinton.get_teacher_logits(HintonConfig(teacher="mlp", teacher_epochs=2), 0, train, test, tmp_path)
    assert counted == [300, 100] * 2
    assert "is stale (teacher settings changed); recomputing" in caplog.text


def test_an_unreadable_cache_is_recomputed(tmp_path, splits, counted, caplog):
    train, test = splits
    cfg = HintonConfig(teacher_checkpoint=_teacher(tmp_path / "teacher", 0))
    (tmp_path / "teacher_logits.safetensors").write_bytes(b"not a safetensors file")
    caplog.set_level(logging.INFO, logger="distill")
    hinton.get_teacher_logits(cfg, 0, train, test, tmp_path)
    assert counted == [300, 100] and "cannot read" in caplog.text
    hinton.get_teacher_logits(cfg, 0, train, test, tmp_path)
    assert counted == [300, 100]

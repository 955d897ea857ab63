"""The classic teacher-output cache (``targets.safetensors``): written atomically, recomputed when it does not load."""

import torch

from distill.models import build_classifier
from distill.train.classic import teacher_outputs
from distill.train.classifier import save_classifier
from tests.conftest import make_images


def test_a_torn_cache_is_recomputed_and_writes_are_atomic(tmp_path, monkeypatch):
    """Issue 14 item 10: the cache was written in place, and a torn file then failed every rerun."""
    teacher = save_classifier(build_classifier("mlp-800", seed=0), tmp_path / "t", "mlp-800", 10)
    images, _ = make_images(12)
    cache = tmp_path / "out" / "targets.safetensors"
    ref, _ = teacher_outputs((str(teacher),), images, (), cache)
    assert ref.shape == (1, 12, 10) and not list(cache.parent.glob("*.tmp"))
    cache.write_bytes(cache.read_bytes()[:100])  # a write cut short by a crash
    again, _ = teacher_outputs((str(teacher),), images, (), cache)
    torch.testing.assert_close(again, ref)
    reused, _ = teacher_outputs((str(teacher),), images, (), cache)  # the rewritten cache loads
    torch.testing.assert_close(reused, ref)
    cache.write_bytes(b"")
    torch.testing.assert_close(teacher_outputs((str(teacher),), images, (), cache)[0], ref)

    import distill.train.classic as classic

    def crash(tensors, path):  # a crash in the middle of the write leaves the old cache whole
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    before = cache.read_bytes()
    monkeypatch.setattr(classic, "save_file", crash)
    other, _ = make_images(13)
    try:
        teacher_outputs((str(teacher),), other, (), cache)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert cache.read_bytes() == before
    torch.testing.assert_close(teacher_outputs((str(teacher),), images, (), cache)[0], ref)

"""Shared fixtures: tiny synthetic image data sets, written as real IDX files when needed."""

import numpy as np
import pytest
import torch

from distill.data.idx import write_idx


def make_images(n: int, seed: int = 0, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable 28×28 images: class c lights a 4×4 blob at a class-specific spot, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    x = torch.rand(n, 28, 28, generator=g) * 0.3
    for c in range(classes):
        r, col = 3 + 6 * (c // 4), 3 + 6 * (c % 4)
        x[labels == c, r : r + 4, col : col + 4] += 0.7
    return x.clamp(0, 1), labels


@pytest.fixture
def idx_dir(tmp_path):
    """A folder with the four MNIST IDX files (gzipped), 600 train and 200 test images."""
    for prefix, n, seed in (("train", 600, 1), ("t10k", 200, 2)):
        x, y = make_images(n, seed)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", (x.numpy() * 255).round().astype(np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", y.numpy().astype(np.uint8))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory):
    """A 4-layer Llama (hidden 64) with a BPE tokenizer trained on local text, saved as an HF folder."""
    pytest.importorskip("transformers")
    from tests.lm.tiny import TEXT, make_llama, make_tokenizer

    return make_llama(tmp_path_factory.mktemp("teacher"), make_tokenizer(TEXT), layers=4)


@pytest.fixture(autouse=True)
def _autograd_on():
    """Every test starts with autograd on and inference mode off, whatever an earlier test left behind.

    The full suite once failed 168 gradient tests in that order (loss, loop and classifier tests after the
    tabular/teacher/serve ones) while each directory passed on its own. The cause found since: the
    transformers engine's step generator yielded inside ``torch.inference_mode()``, so a generation left
    suspended (a stream not read to its end) kept inference mode on in its thread
    (tests/teachers/test_hf.py::test_a_suspended_generation_leaves_the_consumer_with_autograd_on). The
    fixture stays so that no test depends on another's grad mode.
    """
    import torch

    with torch.inference_mode(False), torch.enable_grad():
        yield

import gzip

import numpy as np
import pytest

from distill.data.idx import FASHION_MNIST_DIR, load_idx_dataset, read_idx, write_idx


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_roundtrip_and_header(tmp_path, name):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, arr)
    np.testing.assert_array_equal(read_idx(tmp_path / name), arr)
    raw = (gzip.open if name.endswith(".gz") else open)(tmp_path / name, "rb").read()
    # magic 0x00000803 (ubyte, 3 dims), then the dims as big-endian uint32
    assert raw[:4] == bytes([0, 0, 8, 3]) and raw[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])


def test_truncated_file_is_reported(tmp_path):
    write_idx(tmp_path / "x.idx", np.zeros((5, 2), dtype=np.uint8))
    data = (tmp_path / "x.idx").read_bytes()
    (tmp_path / "x.idx").write_bytes(data[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "x.idx")


def test_not_idx(tmp_path):
    (tmp_path / "x.idx").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "x.idx")


def test_load_dataset_from_written_files(idx_dir):
    train, test, name = load_idx_dataset(idx_dir)
    assert train.images.shape == (600, 28, 28) and test.images.shape == (200, 28, 28)
    assert train.images.dtype.is_floating_point and 0 <= float(train.images.min()) and float(train.images.max()) <= 1
    assert set(train.labels.tolist()) <= set(range(10)) and name == idx_dir.name


def test_missing_files_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        load_idx_dataset(tmp_path)


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_loads_in_full():
    train, test, name = load_idx_dataset()
    assert name == "fashion-mnist"
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class
    assert train.labels.bincount().tolist() == [6000] * 10 and test.labels.bincount().tolist() == [1000] * 10

"""Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or not.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(i) for i in range(10))
INSTALL_HINT = "sudo apt-get install -y dataset-fashion-mnist"


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a numpy array of its stored shape.

    Args:
        path: an IDX file; read through gzip when its name ends in ``.gz``.

    Returns:
        The data, shaped as the header says (e.g. (N, 28, 28) images, (N,) labels), in the stored
        dtype (big-endian for multi-byte types).

    Raises:
        ValueError: the magic number is not IDX, or the data size disagrees with the header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: header says shape {shape} ({expected} bytes) but the file holds "
            f"{len(raw) - header} bytes of data; the file is truncated or corrupt."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in ``.gz``).

    Args:
        path: the file to write; gzipped when its name ends in ``.gz``.
        array: any shape, dtype uint8, int8, int16, int32, float32 or float64.

    Raises:
        ValueError: ``array`` has a dtype IDX cannot store.
    """
    codes = {np.dtype(v).str.lstrip("<>|"): k for k, v in _DTYPES.items()}
    arr = np.ascontiguousarray(array)
    key = arr.dtype.str.lstrip("<>|")
    if key not in codes:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}.")
    big = arr.astype(np.dtype(_DTYPES[codes[key]]), copy=False)
    header = bytes([0, 0, codes[key], arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + big.tobytes())


@dataclass(frozen=True)
class ImageSplit:
    """Images as float32 in [0, 1], shape (N, 28, 28); labels int64, shape (N,)."""

    images: torch.Tensor
    labels: torch.Tensor


def _find(data_dir: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem, stem.replace("-idx", ".idx")):
        if (data_dir / name).exists():
            return data_dir / name
    raise FileNotFoundError(
        f"{data_dir} has no {stem}[.gz]. Point --data-dir at a folder holding the four IDX files "
        f"(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        f"t10k-labels-idx1-ubyte), or install Fashion-MNIST with: {INSTALL_HINT}"
    )


def load_idx_dataset(data_dir: str | Path | None = None) -> tuple[ImageSplit, ImageSplit, str]:
    """Load an MNIST-style data set: (train, test, name).

    ``data_dir=None`` uses Debian's Fashion-MNIST. Any folder with the four standard
    IDX files works the same, real MNIST included.

    Args:
        data_dir: a folder with ``train-``/``t10k-`` ``images-idx3-ubyte`` and ``labels-idx1-ubyte``
            (each optionally ``.gz``); None: Debian's Fashion-MNIST folder.

    Returns:
        (train, test, name): the two splits, images float32 in [0, 1] of shape (N, H, W) and labels
        int64 of shape (N,); name is "fashion-mnist" for the Debian folder, else the folder's name.

    Raises:
        FileNotFoundError: the folder (or one of its four files) is missing.
        ValueError: a split's images are not (N, H, W) with N labels.
    """
    if data_dir is None:
        data_dir = FASHION_MNIST_DIR
        if not data_dir.exists():
            raise FileNotFoundError(
                f"Fashion-MNIST is not installed ({data_dir} is missing). Install it with: "
                f"{INSTALL_HINT}  (or pass --data-dir with MNIST IDX files)."
            )
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data-dir {data_dir} is not a folder.")
    splits = []
    for prefix in ("train", "t10k"):
        x = read_idx(_find(data_dir, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find(data_dir, f"{prefix}-labels-idx1-ubyte"))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"{data_dir}: {prefix} images have shape {x.shape} and labels {y.shape}; "
                "expected (N, H, W) images with N labels."
            )
        splits.append(
            ImageSplit(torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64)))
        )
    name = "fashion-mnist" if data_dir.resolve() == FASHION_MNIST_DIR.resolve() else data_dir.name
    return splits[0], splits[1], name

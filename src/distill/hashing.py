"""SHA-256 of files, read in blocks (model weights and shards are hundreds of MB)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def _update(h, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of one file's bytes, read in 4 MiB blocks.

    Args:
        path: the file to hash.

    Returns:
        The digest as 64 lowercase hex characters.
    """
    h = hashlib.sha256()
    _update(h, Path(path))
    return h.hexdigest()


def sha256_files(paths: list[Path]) -> str:
    """One digest over several files, their names included (order as given).

    Args:
        paths: the files, hashed in this order; each contributes its base name, then its bytes.

    Returns:
        The digest as 64 lowercase hex characters.
    """
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode())
        _update(h, Path(p))
    return h.hexdigest()

"""Teacher logits kept in the run folder, stamped with what they depend on.

A resumed run would otherwise spend about a minute recomputing the teacher's outputs on the 60,000
training images. The stamp holds digests of the data and of the teacher (its checkpoint's files,
or the settings that trained it); a cache whose stamp differs is recomputed, and the log says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from distill.files import atomic_bytes

log = logging.getLogger(__name__)

Logits = tuple[list[torch.Tensor], list[torch.Tensor], str]  # train logits per teacher, test logits, label


def data_digest(split) -> str:
    """SHA-256 of an ImageSplit's images and labels, shapes included (a subset or a new draw changes it).

    Args:
        split: an ImageSplit.

    Returns:
        Hex SHA-256 digest.
    """
    h = hashlib.sha256()
    for t in (split.images, split.labels):
        h.update(repr((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def stamp(train, test, teacher: dict) -> dict:
    """What the logits depend on; ``teacher``: {"teacher checkpoint": digest} or {"teacher settings": …}.

    Args:
        train: the transfer set (ImageSplit).
        test: the test set (ImageSplit).
        teacher: what identifies the teacher.

    Returns:
        The JSON-normalized stamp.
    """
    # Through JSON once, so that a stamp compares equal to itself read back (tuples become lists).
    return json.loads(json.dumps({"train data": data_digest(train), "test data": data_digest(test), **teacher}))


def load(path: Path, expected: dict) -> Logits | None:
    """The cached logits, or None (logged) when there are none, they are unreadable or their stamp differs.

    Args:
        path: the cache file.
        expected: the `stamp` the logits must carry.

    Returns:
        (train logits per teacher, test logits per teacher, label), or None.
    """
    if not path.exists():
        return None
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        old = json.loads(meta.get("stamp", "{}"))
        tensors = load_file(path)
        n = int(meta["teachers"])
        cached = ([tensors[f"train{i}"] for i in range(n)], [tensors[f"test{i}"] for i in range(n)], meta["label"])
    except Exception as e:  # a half-written or foreign file: recompute rather than fail the run
        log.info("teacher logits: cannot read %s (%s); recomputing", path, e)
        return None
    changed = [k for k in sorted(set(old) | set(expected)) if old.get(k) != expected.get(k)]
    if changed:
        log.info("teacher logits: %s is stale (%s changed); recomputing", path, ", ".join(changed))
        return None
    log.info("teacher logits: loaded from %s (same teacher and data)", path)
    return cached


def save(path: Path, stamped: dict, logits: Logits) -> None:
    """Write to a temporary name, then rename: an interrupted write never leaves a cache that loads.

    Args:
        path: the cache file.
        stamped: the logits' `stamp`.
        logits: (train logits per teacher, test logits per teacher, label).
    """
    train, test, label = logits
    tensors = {f"train{i}": z.contiguous() for i, z in enumerate(train)} | {
        f"test{i}": z.contiguous() for i, z in enumerate(test)}
    meta = {"stamp": json.dumps(stamped), "teachers": str(len(train)), "label": label}
    atomic_bytes(path, save_bytes(tensors, metadata=meta))

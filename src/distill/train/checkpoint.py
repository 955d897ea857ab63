"""Resumable checkpoints shared by every training loop: settings-stamped, written atomically.

A checkpoint is a folder holding whatever the loop saves (weights, optimizer, RNG states…)
plus ``state.json`` = {"step": int, "settings": dict}. Two rules, for classic and LM
training alike:

* **Atomic**: the folder is written under ``NAME.tmp`` and renamed into place; the previous
  checkpoint is kept as ``NAME.old`` until the new one is in place. A kill at any moment
  (even inside the writer) leaves one complete checkpoint, ``NAME`` or ``NAME.old``, and
  ``find`` returns it. ``state.json`` is written last, so a folder without it is never used.
* **Settings-stamped**: the run's settings are stored in ``state.json``; ``read_state``
  refuses to resume a checkpoint whose settings differ and names the settings that changed,
  so a run folder reused with another loss or learning rate is not silently continued.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

STATE = "state.json"


def _fsync_write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def save(path: Path, write: Callable[[Path], None], step: int, settings: dict | None, accelerator=None) -> None:
    """Write a checkpoint at ``path`` atomically.

    Args:
        path: the checkpoint folder (its parent must be writable).
        write: ``write(folder)`` saves the loop's state into ``folder``. Called on every process
            (accelerate's ``save_state`` needs all of them); it must itself write files from the
            main process only where only one copy is wanted.
        step: the global step the checkpoint resumes at.
        settings: JSON-able settings stamped into the checkpoint (see ``read_state``).
        accelerator: the run's Accelerator (None: a single process).
    """
    main = accelerator is None or accelerator.is_main_process
    sync = accelerator.wait_for_everyone if accelerator is not None else (lambda: None)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    sync()
    if main:
        shutil.rmtree(tmp, ignore_errors=True)  # a leftover from a run killed while writing
        tmp.mkdir(parents=True)
    sync()
    write(tmp)
    sync()
    if main:
        # state.json last: it marks the folder complete (find() ignores folders without it).
        _fsync_write(tmp / STATE, json.dumps({"step": int(step), "settings": settings}))
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    sync()


def find(path: Path) -> Path | None:
    """The complete checkpoint to resume from: ``path``, else ``path.old`` (a kill between the two
    renames of ``save``), else None.

    Args:
        path: the checkpoint folder as given to ``save``.

    Returns:
        The folder holding a ``state.json`` (``path`` first, then ``path.old``), or None.
    """
    path = Path(path)
    for p in (path, path.with_name(path.name + ".old")):
        if (p / STATE).exists():
            return p
    return None


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_state(path: Path, settings: dict | None) -> int:
    """The step stored in checkpoint ``path``, after checking it was written with ``settings``.

    Args:
        path: a complete checkpoint folder (one ``find`` returned).
        settings: the current run's JSON-able settings; None skips the check.

    Returns:
        The stored global step.

    Raises:
        ValueError: the stored settings differ from ``settings``; the message names every
            setting that changed with its old and new value. Checkpoints written before settings
            were stored (no "settings" key) are accepted.
    """
    state = json.loads((Path(path) / STATE).read_text())
    saved = state.get("settings")
    if settings is not None and saved is not None:
        settings = json.loads(json.dumps(settings))  # compare as stored (tuples become lists)
        if saved != settings:
            new, old = _flatten(settings), _flatten(saved)
            differ = sorted(k for k in new.keys() | old.keys() if new.get(k) != old.get(k))
            changes = ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in differ)
            raise ValueError(
                f"{path} is a checkpoint of a run with other settings (differ: {', '.join(differ)}); resuming it "
                f"would continue a different run (stored → now: {changes}). Use another output folder, or delete "
                "this one to start afresh."
            )
    return int(state["step"])

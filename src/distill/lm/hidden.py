"""Intermediate-state KD for students cut or pruned from their teacher (`lm train --hidden-weight`).

A student made by `distill lm student` records which teacher layers it kept and, when pruned, which
hidden channels (``distill_student.json``). So each student layer's output has a known counterpart:
the output of the teacher layer it was copied from, on the kept channels — a fixed projection, as
FitNets' hint with the pruning map as its regressor (Minitron heals with logit KD plus such
intermediate-state losses). The loss per layer is the mean squared difference divided by the
teacher's mean square there, so that every layer counts alike whatever its scale (residual streams
grow with depth) and ``--hidden-weight`` means the same for any model.

Layer indices follow Hugging Face's ``output_hidden_states``: entry 0 is the embeddings, entry i the
output of block i − 1. The student's last block is left out: its entry is after the final norm, the
teacher's counterpart (unless it is the teacher's last block too) is not, and logit KD covers it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from distill.losses import feature_kd


@dataclass(frozen=True)
class HiddenMap:
    """Which hidden state of the teacher each student hidden state faces.

    Attributes:
        pairs: ((student entry, teacher entry), ...) indices into ``output_hidden_states``.
        channels: the teacher's hidden channels the student kept, ascending (None: all of them).
        teacher_layers: the number of blocks of the teacher the student was made from (0: not recorded).
    """

    pairs: tuple[tuple[int, int], ...]
    channels: tuple[int, ...] | None = None
    teacher_layers: int = 0

    def check_teacher(self, config, student_dir) -> None:
        """Refuse a teacher other than the one the map was made from (by its block count and width).

        Args:
            config: the run's teacher config (``num_hidden_layers``, ``hidden_size``).
            student_dir: the student folder, for the message.

        Raises:
            ValueError: the teacher has another number of blocks, or fewer hidden channels than the map.
        """
        n, width = int(config.num_hidden_layers), int(config.hidden_size)
        if self.teacher_layers and n != self.teacher_layers:
            raise ValueError(f"{student_dir} was made from a teacher of {self.teacher_layers} layers; this run's "
                             f"teacher has {n}, so its layers are not the student's counterparts (--hidden-weight "
                             "needs the teacher the student was made from).")
        if self.channels is not None and max(self.channels) >= width:
            raise ValueError(f"{student_dir} keeps teacher hidden channels up to {max(self.channels)}; this run's "
                             f"teacher has {width}.")


def hidden_map(student_dir: str | Path) -> HiddenMap:
    """The map of a student folder written by `distill lm student` (``--layers`` or ``--prune``).

    Args:
        student_dir: the student's folder.

    Returns:
        Its ``HiddenMap``: student block j (entry j + 1) faces teacher block ``kept_layers[j]``, for every
        block but the student's last.

    Raises:
        ValueError: the folder has no ``distill_student.json`` (not made from a teacher here), or the
            student has a single block (nothing before its last to match).
    """
    info_path = Path(student_dir) / "distill_student.json"
    if not info_path.is_file():
        raise ValueError(f"--hidden-weight needs a student made from its teacher by `distill lm student` (its "
                         f"distill_student.json maps student layers to teacher layers); {student_dir} has none.")
    info = json.loads(info_path.read_text())
    kept = [int(i) for i in info["kept_layers"]]
    if len(kept) < 2:
        raise ValueError(f"{student_dir} keeps one layer; intermediate-state KD matches every layer but the last, "
                         "so there is nothing to match (use logit KD alone).")
    channels = info.get("map", {}).get("hidden")
    return HiddenMap(tuple((j + 1, t + 1) for j, t in enumerate(kept[:-1])),
                     None if channels is None else tuple(int(c) for c in channels), int(info.get("teacher_layers", 0)))


def hidden_loss(student_hidden, teacher_hidden, hmap: HiddenMap) -> torch.Tensor:
    """Mean over ``hmap.pairs`` of ‖h_s − h_t[..., channels]‖² / ‖h_t[..., channels]‖² (per layer, over all
    positions of the batch): 0 when the student's states equal the teacher's kept channels, 1 for a
    student that outputs zeros.

    Args:
        student_hidden: the student's ``output_hidden_states``, entries (b, L, H_s).
        teacher_hidden: the teacher's, entries (b, L, H_t); no gradient flows to them.
        hmap: which entries face each other and the kept channels (H_s of them, or all when None).

    Returns:
        0-dim float32 tensor.
    """
    idx = None
    s, t = {}, {}
    for j, i in hmap.pairs:
        h_t = teacher_hidden[i].detach()
        if hmap.channels is not None:
            if idx is None:
                idx = torch.tensor(hmap.channels, device=h_t.device)
            h_t = h_t.index_select(-1, idx)
        s[str(j)], t[str(j)] = student_hidden[j], h_t
    names = sorted(s, key=int)
    weights = [1.0 / (len(names) * float(t[n].float().pow(2).mean().clamp_min(1e-12))) for n in names]
    return feature_kd(s, t, names, weights=weights)

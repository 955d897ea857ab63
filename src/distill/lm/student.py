"""Students cut from their teacher: keep a subset of decoder layers, copy their weights.

DistilBERT initialized its student from every other teacher layer. Which layers to keep
matters (a half-depth SmolLM2 cut naively starts at perplexity ~10^5), so the selection
is a named rule and the student records which layers it kept.

Rules (``layers`` argument):
  every-other   layers 0, 2, 4, ... (DistilBERT)
  N             N layers evenly spaced from the first to the last (both kept)
  first-N       the first N layers
  last-N        the last N layers
  last-half     the last ⌈n/2⌉ layers (on SmolLM2 the best starting point of the rules measured:
                benchmarks/results/lm_kd_vs_ce.md)
  i,j,k         an explicit list of teacher layer indices

With ``--prune`` the student is pruned by importance instead (MLP channels, KV groups,
hidden channels and whole layers scored on a calibration corpus): `distill.lm.prune`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from distill.config import doc, settings
from distill.results import Result

_LAYER_KEY = re.compile(r"^(.*\.layers\.)(\d+)(\..*)$")
_PER_LAYER_CONFIG = ("layer_types", "sliding_window_pattern_list", "no_rope_layers")


def select_layers(n_layers: int, rule: str) -> list[int]:
    """Teacher layer indices (sorted, unique) kept by ``rule`` out of ``n_layers``.

    Args:
        n_layers: the teacher's number of layers.
        rule: every-other, a count N (evenly spaced), first-N, last-N, last-half, or a list i,j,k.

    Returns:
        The kept layer indices.

    Raises:
        ValueError: an unknown rule, a count outside 1..n_layers, or indices outside the teacher.
    """
    rule = rule.strip()
    if rule == "every-other":
        keep = list(range(0, n_layers, 2))
    elif re.fullmatch(r"first-\d+", rule):
        keep = list(range(int(rule.split("-")[1])))
    elif rule == "last-half":
        keep = list(range(n_layers // 2, n_layers))
    elif re.fullmatch(r"last-\d+", rule):
        k = int(rule.split("-")[1])
        keep = list(range(max(0, n_layers - k), n_layers)) if k <= n_layers else list(range(k))
    elif re.fullmatch(r"\d+", rule):
        k = int(rule)
        if not 1 <= k <= n_layers:
            raise ValueError(f"--layers {rule}: the teacher has {n_layers} layers; keep between 1 and {n_layers}.")
        keep = [0] if k == 1 else sorted({round(i * (n_layers - 1) / (k - 1)) for i in range(k)})
    elif re.fullmatch(r"\d+(,\d+)*", rule):
        keep = sorted({int(x) for x in rule.split(",")})
    else:
        raise ValueError(
            f"--layers {rule!r} is not a rule; use every-other, a count (e.g. 15), first-N, last-N, last-half, or a list like 0,2,5."
        )
    bad = [i for i in keep if not 0 <= i < n_layers]
    if bad or not keep:
        raise ValueError(f"--layers {rule!r} selects layers {bad or keep} outside the teacher's 0..{n_layers - 1}.")
    return keep


def cut_state_dict(state: dict[str, torch.Tensor], keep: list[int]) -> dict[str, torch.Tensor]:
    """Keep the decoder layers in ``keep`` (renumbered 0..len-1) and every non-layer weight.

    Args:
        state: the teacher's state dict.
        keep: teacher layer indices to keep, sorted.

    Returns:
        The student's state dict.
    """
    new_index = {old: new for new, old in enumerate(keep)}
    out = {}
    for key, value in state.items():
        m = _LAYER_KEY.match(key)
        if m is None:
            out[key] = value
        elif int(m.group(2)) in new_index:
            out[f"{m.group(1)}{new_index[int(m.group(2))]}{m.group(3)}"] = value
    return out


def build_student(teacher: str | None, layers: str, out: str | Path) -> dict:
    """Write a student HF folder (weights, config, the teacher's tokenizer) cut from ``teacher``.

    Args:
        teacher: the teacher (as for `resolve`).
        layers: the layer rule (see `select_layers`).
        out: the student folder to write.

    Returns:
        Info dict (also written as ``distill_student.json``): ``teacher``, ``rule``, ``kept_layers``,
        ``teacher_layers``, ``teacher_parameters``, ``student_parameters``.

    Raises:
        RuntimeError: the cut weights do not line up with the student's layout.
    """
    from transformers import AutoModelForCausalLM

    from distill.lm.models import load_model, load_tokenizer, resolve

    source = resolve(teacher)
    t_model = load_model(source)
    cfg = t_model.config
    n = cfg.num_hidden_layers
    keep = select_layers(n, layers)
    s_cfg = cfg.__class__.from_dict(cfg.to_dict())
    s_cfg.num_hidden_layers = len(keep)
    for attr in _PER_LAYER_CONFIG:  # per-layer settings (e.g. Gemma 3's sliding/global pattern) follow their layers
        value = getattr(s_cfg, attr, None)
        if isinstance(value, (list, tuple)) and len(value) == n:
            setattr(s_cfg, attr, [value[i] for i in keep])
    student = AutoModelForCausalLM.from_config(s_cfg)
    missing, unexpected = student.load_state_dict(cut_state_dict(t_model.state_dict(), keep), strict=False)
    # Tied embeddings may be absent from one side's state dict; anything else is a bug.
    missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"student weights do not line up with the teacher: missing {missing}, unexpected {unexpected}")
    out = Path(out)
    student.save_pretrained(out, safe_serialization=True)
    load_tokenizer(source).save_pretrained(out)
    n_t = sum(p.numel() for p in t_model.parameters())
    n_s = sum(p.numel() for p in student.parameters())
    info = {"teacher": source, "rule": layers, "kept_layers": keep, "teacher_layers": n,
            "teacher_parameters": n_t, "student_parameters": n_s}
    (out / "distill_student.json").write_text(json.dumps(info, indent=2))
    return info


@settings
class StudentConfig:
    """Settings of `distill lm student`."""

    teacher: str = doc("teacher: HF folder, hub id, or 'smollm2' (the embedded default)", flag="--from",
                       default="smollm2")
    layers: str = doc("which teacher layers to keep: every-other, N (a count, evenly spaced), first-N, last-N, "
                      "last-half, or a list i,j,k (ignored with --prune)", default="every-other")
    prune: bool = doc("prune by importance on a calibration corpus (Minitron) instead of keeping --layers: "
                      "MLP channels, KV groups with their heads, hidden channels, whole layers", default=False,
                      group="pruning")
    prune_mlp: float = doc("--prune: share of MLP channels removed in every layer", default=0.0, ge=0, lt=1,
                           group="pruning")
    prune_heads: float = doc("--prune: share of KV groups (with their query heads) removed in every layer",
                             default=0.0, ge=0, lt=1, group="pruning")
    prune_hidden: float = doc("--prune: share of hidden (embedding) channels removed", default=0.0, ge=0, lt=1,
                              group="pruning")
    prune_layers: int = doc("--prune: number of layers removed (lowest block importance: 1 − cos of the hidden "
                            "state across the block)", default=0, ge=0, group="pruning")
    calibration: str = doc("--prune: calibration corpus for importance (default: Python's docs topics, the "
                           "quickstart's training split)", default="", group="pruning")
    calibration_windows: int = doc("--prune: calibration windows", default=32, ge=1, group="pruning")
    calibration_window: int = doc("--prune: tokens per calibration window", default=256, ge=2, group="pruning")
    out: str = doc("output folder for the student (a normal HF model folder)", default="runs/student")

    def __post_init__(self):
        if not self.layers:
            raise ValueError("layers must be a rule such as every-other, got ''.")
        pruned = self.prune_mlp or self.prune_heads or self.prune_hidden or self.prune_layers or self.calibration
        if pruned and not self.prune:
            raise ValueError("prune_mlp, prune_heads, prune_hidden, prune_layers and calibration need --prune "
                             "(without it the student keeps --layers).")


class StudentResult(Result):
    """What `distill lm student` returns: the student's layers and size (also ``OUT/distill_student.json``)."""

    kept_layers: list
    teacher_layers: int
    student_parameters: int
    teacher_parameters: int
    out: str

    def summary(self) -> str:
        return (f"student: layers {self['kept_layers']} of {self['teacher_layers']}, {self['student_parameters']:,} "
                f"of {self['teacher_parameters']:,} parameters → {self['out']}")


def run(cfg: StudentConfig) -> StudentResult:
    """`distill lm student`: build the student ``cfg`` describes (a layer cut, or pruned by importance).

    Args:
        cfg: the student settings.

    Returns:
        The `build_student` (or `distill.lm.prune.build_pruned`) info plus ``out``.
    """
    if cfg.prune:
        from distill.lm.prune import build_pruned

        info = build_pruned(cfg.teacher, cfg.out, mlp=cfg.prune_mlp, heads=cfg.prune_heads, hidden=cfg.prune_hidden,
                            layers=cfg.prune_layers, calibration=cfg.calibration or None,
                            window=cfg.calibration_window, windows=cfg.calibration_windows)
        return StudentResult(info, out=str(cfg.out))
    return StudentResult(build_student(cfg.teacher, cfg.layers, cfg.out), out=str(cfg.out))

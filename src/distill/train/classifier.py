"""Classifier training, written out: hard labels, soft targets (Hinton KD), and FitNets hints.

One loop serves every mode of classic distillation and every device setup: it runs on
``accelerate`` (CPU, one GPU, or several processes under ``accelerate launch``). The
teacher never runs inside the loop: its outputs on the transfer set are computed once
(``teacher_outputs``) and passed in as ``Targets``.

Determinism and exact resume: the data order of epoch e is a permutation drawn from a
generator seeded with (seed, e); the jitter and the dropout masks of global step k are
drawn after reseeding with (seed, k, rank). No RNG state has to be saved, so a run
resumed from a checkpoint takes exactly the same steps as one never interrupted.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from torch import nn

from distill.config import check, doc, settings
from distill.losses import hinton_kd
from distill.progress import bar as progress_bar
from distill.train import loop
from distill.train.loop import LoopSpec

log = logging.getLogger(__name__)


@settings
class OptimConfig:
    """How a classifier is trained (the same for teachers and students)."""

    epochs: int = doc("passes over the transfer set", default=30, ge=1)
    batch_size: int = doc("global batch size (split across processes)", default=100, ge=1)
    lr: float = doc("peak learning rate of SGD with momentum", default=0.05)
    momentum: float = doc("SGD momentum", default=0.9, ge=0, lt=1)
    weight_decay: float = doc("L2 weight decay", default=0.0, ge=0)
    schedule: Literal["onecycle", "cosine", "constant"] = doc(
        "learning-rate schedule over all steps", default="onecycle"
    )
    jitter: int = doc("input augmentation: random shifts of up to this many pixels (0: none)", default=0, ge=0, le=8)
    seed: int = doc("seed for initialization, data order, jitter and dropout", default=0)
    checkpoint_every: int = doc("save a resumable checkpoint every N steps (0: at epoch ends only)", default=0, ge=0)
    eval_every: int = doc("evaluate on the held-out split every N steps and at the end: errors and cross-entropy "
                          "(0: never; `classic train` holds out --validation training images)", default=0, ge=0)
    # Off by default: the reproduced Hinton figures (SGD, lr 0.05, no clipping in the paper) were measured without.
    max_grad_norm: float = doc("clip the global gradient norm to this (0: no clipping)", default=0.0, ge=0)

    def __post_init__(self):
        check(self.lr > 0 and math.isfinite(self.lr), "lr", self.lr, "a finite number > 0")


@dataclass
class Targets:
    """Cached teacher outputs on the transfer set, row-aligned with its images.

    Attributes:
        logits: (N, C) teacher logits; for several teachers, ``distill.losses.mix_teachers``'s
            output at ``temperature``.
        temperature: softening temperature T of the KD term.
        ce_weight: weight of the hard-label cross-entropy (0: soft targets only).
        features: teacher hint-layer name → (N, d) activations, for feature distillation.
        hints: (student layer, teacher layer) pairs matched through a learned linear projection.
        hint_weight: weight of the summed hint MSE terms.
    """

    logits: torch.Tensor
    temperature: float
    ce_weight: float
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    hints: tuple[tuple[str, str], ...] = ()
    hint_weight: float = 1.0


@dataclass
class FitResult:
    steps: int
    final_loss: float
    completed: bool  # False when stopped early by ``stop_after_steps``
    projections: nn.ModuleDict | None = None  # feature mode: the learned student → teacher maps
    evaluations: list = field(default_factory=list)  # held-out metrics: {"step", "errors", "error_rate", "ce"}


def jitter_images(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image (B, H, W) by a random integer in [−s, s] along both axes, zero-filled.

    Args:
        x: (B, H, W) images, any float dtype and device.
        max_shift: s, the largest shift in pixels; 0 returns ``x`` itself.
        generator: the CPU generator the shifts are drawn from (seeded per step for exact resume);
            None uses torch's global generator.

    Returns:
        (B, H, W) shifted images, same dtype and device as ``x``; pixels shifted in from outside are 0.
    """
    if max_shift == 0:
        return x
    B, H, W = x.shape
    s = max_shift
    padded = F.pad(x, (s, s, s, s))  # (B, H + 2s, W + 2s)
    dy = torch.randint(0, 2 * s + 1, (B,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * s + 1, (B,), generator=generator).to(x.device)
    rows = (torch.arange(H, device=x.device)[None] + dy[:, None])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(W, device=x.device)[None] + dx[:, None])[:, None, :]  # (B, 1, W)
    return padded[torch.arange(B, device=x.device)[:, None, None], rows, cols]


def _step_seed(seed: int, *parts: int) -> int:
    h = seed
    for p in parts:
        h = (h * 1_000_003 + p + 1) % (2**62)
    return h


def _scheduler(optimizer, cfg: OptimConfig, total_steps: int):
    if cfg.schedule == "onecycle":
        # Linear warm-up over the first 15% of steps, then cosine decay to 0 (as OneCycleLR).
        warm = max(1, int(0.15 * total_steps))

        def f(step):
            if step < warm:
                return 0.04 + 0.96 * step / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))
    elif cfg.schedule == "cosine":
        def f(step):
            return 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))
    else:
        def f(step):
            return 1.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)


class _HintTaps:
    """Forward hooks that keep the latest output of named student layers."""

    def __init__(self, model: nn.Module, names: list[str]):
        modules = dict(model.named_modules())
        missing = [n for n in names if n not in modules]
        if missing:
            raise ValueError(f"student has no layer(s) {missing}; named layers: {[n for n in modules if n][:20]}")
        self.out: dict[str, torch.Tensor] = {}
        self.handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name):
        def hook(_module, _inp, output):
            if isinstance(output, tuple):  # blocks that also return skip tensors (U-Net down blocks): the first
                output = output[0]
            self.out[name] = output.flatten(1)

        return hook

    def close(self):
        for h in self.handles:
            h.remove()


def _layer_width(model: nn.Module, name: str, sample: torch.Tensor) -> int:
    taps = _HintTaps(model, [name])
    try:
        with torch.no_grad():
            model.eval()
            model(sample[:2])
    finally:
        taps.close()
        model.train()
    return taps.out[name].shape[1]


def fit(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    cfg: OptimConfig,
    targets: Targets | None = None,
    *,
    run_dir: str | Path | None = None,
    stop_after_steps: int | None = None,
    desc: str = "train",
    accelerator: Accelerator | None = None,
    held_out: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> FitResult:
    """Train ``model`` in place on (images (N, H, W), labels (N,)), on hard labels or on ``targets``.

    With ``run_dir``, a checkpoint is written at each epoch end (and every
    ``cfg.checkpoint_every`` steps), and a run started on a folder that holds one resumes
    from it. ``stop_after_steps`` stops (after checkpointing) at that global step, which is
    how tests and time-boxed jobs interrupt a run.

    Args:
        model: the classifier to train (updated in place), mapping (B, H, W) images to (B, C) logits.
        images: (N, H, W) float transfer-set images.
        labels: (N,) int64 class labels.
        cfg: the optimization settings (epochs, global batch size, lr and schedule, jitter, seed).
        targets: the teacher's cached outputs, row-aligned with ``images``; None trains on labels only.
        run_dir: the run folder whose ``checkpoint/`` is written and resumed from; None: no checkpoints.
        stop_after_steps: stop at this global step (a checkpoint is written first); None runs to the end.
        desc: the progress bar's label.
        accelerator: the ``Accelerator`` to train on; None makes one (single process unless launched).
        held_out: ``(images (M, H, W), labels (M,))`` scored every ``cfg.eval_every`` steps and at the end
            (every process scores all of it); None, or ``cfg.eval_every`` 0: no evaluation.

    Returns:
        The steps taken, the last step's loss, whether the run completed, (feature mode) the learned
        student → teacher projections, and the held-out scores: one ``{"step", "errors", "error_rate",
        "ce"}`` dict per evaluation (cross-entropy in nats).

    Raises:
        ValueError: images, labels and targets differ in length; the set is smaller than one batch;
            the batch size does not divide by the number of processes; a hint names no student layer;
            or the checkpoint in ``run_dir`` was made with other settings.
    """
    if len(images) != len(labels):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length.")
    if targets is not None and len(targets.logits) != len(images):
        raise ValueError(f"targets cover {len(targets.logits)} rows but the transfer set has {len(images)}.")
    accelerator = accelerator or Accelerator()
    world = accelerator.num_processes
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} must be divisible by the {world} processes.")
    torch.manual_seed(cfg.seed)  # initialization of hint projections

    hints = list(targets.hints) if targets is not None else []
    projections = nn.ModuleDict()
    for s_name, t_name in hints:
        d_s = _layer_width(model, s_name, images)
        d_t = targets.features[t_name].shape[1]
        projections[s_name.replace(".", "__")] = nn.Linear(d_s, d_t)
    params = list(model.parameters()) + list(projections.parameters())
    optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(images) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"the transfer set has {len(images)} rows, fewer than one batch of {cfg.batch_size}.")
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = _scheduler(optimizer, cfg, total_steps)
    model, projections, optimizer = accelerator.prepare(model, projections, optimizer)
    raw_model = accelerator.unwrap_model(model)
    taps = _HintTaps(raw_model, [s for s, _ in hints]) if hints else None

    ckpt = Path(run_dir) / "checkpoint" if run_dir else None
    recipe = _ClassifierRecipe(model, raw_model, projections, taps, images, labels, targets, cfg, optimizer,
                               scheduler, accelerator, steps_per_epoch)
    spec = LoopSpec(steps=total_steps, desc=desc, max_grad_norm=cfg.max_grad_norm,
                    checkpoint_every=cfg.checkpoint_every, eval_every=cfg.eval_every if held_out is not None else 0)

    def evaluate(step: int) -> dict[str, float]:  # every process scores the whole split: same numbers everywhere
        x, y = held_out
        logits = predict(raw_model, x, desc=f"{desc}: held-out", device=accelerator.device).cpu()
        errors = int((logits.argmax(-1) != y).sum())
        return {"errors": errors, "error_rate": errors / len(y), "ce": float(F.cross_entropy(logits.float(), y))}

    try:
        r = loop.run(recipe, model=model, optimizer=optimizer, scheduler=scheduler, accelerator=accelerator,
                     spec=spec, ckpt=ckpt, settings=run_settings(cfg, len(images), targets), params=params,
                     checkpoint_at=lambda step: step % steps_per_epoch == 0,
                     after_step=(lambda step: raw_model.apply_constraints())
                     if hasattr(raw_model, "apply_constraints") else None,
                     evaluate=evaluate if held_out is not None else None, stop_after_steps=stop_after_steps)
    finally:
        if taps is not None:
            taps.close()
    return FitResult(r.step, r.last.get("loss", float("nan")), r.completed, accelerator.unwrap_model(projections),
                     r.evaluations)


class _ClassifierRecipe:
    """Classifier training on the loop: a seeded permutation per epoch, one micro-batch per step (this
    process's shard of it), jitter and dropout seeded from (seed, epoch, step, rank)."""

    def __init__(self, model, raw_model, projections, taps, images, labels, targets, cfg, optimizer, scheduler,
                 accelerator, steps_per_epoch):
        self.model, self.raw_model, self.projections, self.taps = model, raw_model, projections, taps
        self.images, self.labels, self.targets, self.cfg = images, labels, targets, cfg
        self.optimizer, self.scheduler, self.acc = optimizer, scheduler, accelerator
        self.steps_per_epoch = steps_per_epoch
        self.local = cfg.batch_size // accelerator.num_processes
        self._order: tuple[int, torch.Tensor] | None = None

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if self._order is None or self._order[0] != epoch:  # one permutation per epoch, not per step
            g = torch.Generator().manual_seed(_step_seed(self.cfg.seed, epoch))
            self._order = (epoch, torch.randperm(len(self.images), generator=g))
        return self._order[1]

    def micro_batches(self, step: int) -> list:
        cfg, rank = self.cfg, self.acc.process_index
        epoch, i = divmod(step, self.steps_per_epoch)
        batch = self._epoch_order(epoch)[i * cfg.batch_size : (i + 1) * cfg.batch_size]
        batch = batch[rank * self.local : (rank + 1) * self.local]  # this process's shard
        torch.manual_seed(_step_seed(cfg.seed, epoch, i, rank))  # dropout masks of this step
        gen = torch.Generator().manual_seed(_step_seed(cfg.seed, epoch, i, rank, 1))
        x = jitter_images(self.images[batch], cfg.jitter, gen).to(self.acc.device)
        return [(x, self.labels[batch].to(self.acc.device), batch)]

    def loss(self, micro, step: int):
        x, y, batch = micro
        loss = _loss_step(self.model, self.projections, self.taps, x, y, batch, self.targets, self.acc.device)
        return loss, {"epoch": float(step // self.steps_per_epoch + 1)}

    def save(self, folder: Path) -> None:
        _write_checkpoint(folder, self.raw_model, self.acc.unwrap_model(self.projections), self.optimizer,
                          self.scheduler, self.acc)

    def load(self, folder: Path) -> None:
        _read_checkpoint(folder, self.raw_model, self.acc.unwrap_model(self.projections), self.optimizer,
                         self.scheduler)


def _loss_step(model, projections, taps, x, y, batch, targets: Targets | None, device) -> torch.Tensor:
    """The loss of one batch: CE on labels, or Hinton KD plus weighted FitNets hint terms."""
    logits = model(x)  # (b, C)
    if targets is None:
        return F.cross_entropy(logits, y)
    t_logits = targets.logits[batch].to(device)  # (b, C)
    loss = hinton_kd(logits, t_logits, y, temperature=targets.temperature, ce_weight=targets.ce_weight)
    for s_name, t_name in targets.hints:
        h_s = projections[s_name.replace(".", "__")](taps.out[s_name])  # (b, d_t)
        h_t = targets.features[t_name][batch].to(device)  # (b, d_t)
        loss = loss + targets.hint_weight * F.mse_loss(h_s, h_t)
    return loss


# ------------------------------------------------------------------------- checkpoints


def run_settings(cfg: OptimConfig, rows: int, targets: Targets | None) -> dict:
    """What a checkpoint must agree on to be resumed: the optimization, the data size, the loss.

    Stored in the checkpoint so that a run folder reused with other settings (another CE weight, T,
    epoch count...) is refused instead of silently continuing a different run.
    ``checkpoint_every`` and ``eval_every`` only decide when checkpoints are written and the held-out split
    scored, so they are left out.

    Args:
        cfg: the optimization settings.
        rows: the number of transfer-set rows N.
        targets: the soft targets trained on; None for hard labels.

    Returns:
        A JSON-plain dict ``{"optim": {...}, "rows": N, "loss": {...} | None}`` (tuples become lists),
        so it compares equal to the copy read back from the checkpoint.
    """
    optim = {k: v for k, v in vars(cfg).items() if k not in ("checkpoint_every", "eval_every")}
    if not optim["max_grad_norm"]:  # unclipped runs stamp what they stamped before clipping existed
        del optim["max_grad_norm"]
    loss = None
    if targets is not None:
        loss = {"temperature": targets.temperature, "ce_weight": targets.ce_weight,
                "hints": [list(h) for h in targets.hints], "hint_weight": targets.hint_weight}
    return json.loads(json.dumps({"optim": optim, "rows": rows, "loss": loss}))


def _write_checkpoint(tmp: Path, model, projections, optimizer, scheduler, accelerator) -> None:
    """The loop's state into checkpoint folder ``tmp`` (the loop makes it atomic and settings-stamped)."""
    if not accelerator.is_main_process:  # one copy: the weights are the same on every process
        return
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    if len(projections):
        save_file({k: v.detach().cpu().contiguous() for k, v in projections.state_dict().items()},
                  tmp / "projections.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")


def _read_checkpoint(path: Path, model, projections, optimizer, scheduler) -> None:
    model.load_state_dict(load_file(path / "model.safetensors"))
    if (path / "projections.safetensors").exists():
        projections.load_state_dict(load_file(path / "projections.safetensors"))
    # weights_only: optimizer state is tensors and numbers; never unpickle arbitrary objects.
    opt_state = torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(opt_state["optimizer"])
    scheduler.load_state_dict(opt_state["scheduler"])


# ------------------------------------------------------------------- teacher outputs


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000, features: tuple[str, ...] = (),
            desc: str = "predict", device: torch.device | str | None = None):
    """Logits (N, C) of ``model`` on ``images`` in eval mode, and the named layers' outputs (N, d).

    Returns ``logits`` alone when ``features`` is empty, else ``(logits, {name: (N, d)})``.

    Args:
        model: the classifier; its train/eval mode is restored afterwards.
        images: (N, H, W) float images, on any device (moved batch by batch).
        batch_size: the rows per forward pass.
        features: names of layers (as in ``model.named_modules()``) whose outputs to keep, flattened to (N, d).
        desc: the progress bar's label.
        device: where to run; None uses the device of the model's first parameter.

    Returns:
        float32 logits (N, C) on the CPU, or ``(logits, {name: (N, d) float32 CPU tensor})`` with ``features``.

    Raises:
        ValueError: a name in ``features`` is not a layer of ``model``.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    taps = _HintTaps(model, list(features)) if features else None
    outs, feats = [], {n: [] for n in features}
    try:
        for i in progress_bar(range(0, len(images), batch_size), desc=desc, unit="batch"):
            outs.append(model(images[i : i + batch_size].to(device)).float().cpu())
            for n in features:
                feats[n].append(taps.out[n].float().cpu())
    finally:
        if taps is not None:
            taps.close()
        model.train(was_training)
    logits = torch.cat(outs)
    if not features:
        return logits
    return logits, {n: torch.cat(v) for n, v in feats.items()}


def count_errors(logits: torch.Tensor, labels: torch.Tensor) -> int:
    """Number of rows whose argmax differs from the label.

    Args:
        logits: (N, C) scores (logits or probabilities; only the argmax matters; ties go to the lowest class).
        labels: (N,) integer class labels, on the same device as ``logits``.

    Returns:
        The error count, 0 to N.
    """
    return int((logits.argmax(-1) != labels).sum())


# ------------------------------------------------------------------- saved classifiers


def save_classifier(model: nn.Module, path: str | Path, arch: str, num_classes: int, **meta) -> Path:
    """Save weights (safetensors) and the architecture name (JSON) to a folder.

    Args:
        model: the classifier; a wrapped one (``.module``, e.g. DDP) is saved unwrapped.
        path: the folder, created when missing; ``model.safetensors`` and ``config.json`` are overwritten.
        arch: the architecture name in ``distill.models.ARCHITECTURES`` that rebuilds ``model``.
        num_classes: the number of output classes C.
        **meta: further JSON-serializable entries for ``config.json`` (e.g. ``mode="response"``).

    Returns:
        ``path``, as a ``Path``.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model = model.module if hasattr(model, "module") else model
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, path / "model.safetensors")
    (path / "config.json").write_text(json.dumps({"arch": arch, "num_classes": num_classes, **meta}, indent=2))
    return path


def load_classifier(path: str | Path) -> tuple[nn.Module, dict]:
    """Load a classifier saved by ``save_classifier`` (safetensors only, no pickle).

    Args:
        path: the folder holding ``config.json`` and ``model.safetensors``.

    Returns:
        ``(model, meta)``: the rebuilt model with its weights, in eval mode on the CPU, and the
        ``config.json`` contents (``arch``, ``num_classes`` and any extra entries).

    Raises:
        FileNotFoundError: either file is missing from ``path``.
    """
    from distill.models import build_classifier

    path = Path(path)
    if not (path / "config.json").exists() or not (path / "model.safetensors").exists():
        raise FileNotFoundError(
            f"{path} is not a saved classifier (needs config.json and model.safetensors); "
            "train one with `distill classic train --mode labels --out DIR`."
        )
    meta = json.loads((path / "config.json").read_text())
    model = build_classifier(meta["arch"], meta.get("num_classes", 10))
    model.load_state_dict(load_file(path / "model.safetensors"))
    model.eval()
    return model, meta

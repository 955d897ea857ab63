"""The one training loop: every recipe (classifier KD, LM distillation, docs fine-tuning) runs on it.

A recipe says what a step is: which micro-batches make optimizer step ``s`` (a function of the
seed and ``s`` alone, so a resumed run sees exactly the data an uninterrupted one would), the loss of
one micro-batch, and how its state is saved and loaded. The loop does the rest, once for all:

    resume (settings-stamped checkpoint) → for each step: micro-batches → loss → backward
    (accumulated) → gradient clipping → optimizer and scheduler step → per-step metrics →
    evaluation every N steps → atomic checkpoint → progress bar and a stage line at the end.

Gradient clipping uses ``accelerator.clip_grad_norm_`` on the step whose gradients are synchronized
(the last micro-batch), so it sees the accumulated, all-reduced gradient, as in one big batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

from distill.progress import bar as progress_bar
from distill.train import checkpoint

log = logging.getLogger(__name__)


class Recipe(Protocol):
    """What one kind of training adds to the loop."""

    def micro_batches(self, step: int) -> list[Any]:
        """This process's micro-batches of optimizer step ``step`` (``grad_accum`` of them); any
        randomness of the step (data order, dropout masks, jitter, on-policy draws) seeded from ``step``.

        Args:
            step: the optimizer step, counted from 0.

        Returns:
            The micro-batches, each as ``loss`` takes it.
        """

    def loss(self, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one micro-batch and its metrics.

        Args:
            batch: one of the micro-batches ``micro_batches(step)`` returned.
            step: the optimizer step, counted from 0.

        Returns:
            (0-dim loss to minimize, metrics of the micro-batch, e.g. {"divergence": …, "tokens": …}).
        """

    def save(self, folder: Path) -> None:
        """Write the state a resume needs (weights, optimizer, scheduler) into ``folder``.

        Args:
            folder: an empty folder, renamed into the checkpoint once everything is written.
        """

    def load(self, folder: Path) -> None:
        """Read back what ``save`` wrote.

        Args:
            folder: the complete checkpoint the run resumes from.
        """


@dataclass(frozen=True)
class LoopSpec:
    """How the loop runs a recipe.

    Attributes:
        steps: optimizer steps in all.
        desc: the progress bar's and the stage line's name.
        max_grad_norm: clip the global gradient norm to this (0: no clipping).
        checkpoint_every: also checkpoint every N steps (0: only where ``checkpoint_at`` says and at the end).
        eval_every: call ``evaluate`` every N steps and at the end (0: never).
        summed: metrics summed over micro-batches (token counts); the others are averaged.
    """

    steps: int
    desc: str = "train"
    max_grad_norm: float = 0.0
    checkpoint_every: int = 0
    eval_every: int = 0
    summed: tuple[str, ...] = ("tokens",)


@dataclass
class LoopResult:
    """Where a run stopped: the step reached, the last step's metrics, whether it finished, evaluations."""

    step: int
    last: dict[str, float]
    completed: bool
    evaluations: list[dict] = field(default_factory=list)
    resumed_at: int = 0
    seconds: float = 0.0


def run(recipe: Recipe, *, model: torch.nn.Module, optimizer, scheduler, accelerator, spec: LoopSpec,
        ckpt: Path | None, settings: dict | None, params: list[torch.nn.Parameter] | None = None,
        checkpoint_at: Callable[[int], bool] = lambda step: False,
        after_step: Callable[[int], None] | None = None,
        on_step: Callable[[int, dict[str, float], float], None] | None = None,
        evaluate: Callable[[int], dict[str, float]] | None = None,
        stop_after_steps: int | None = None) -> LoopResult:
    """Train ``model`` with ``recipe`` for ``spec.steps`` optimizer steps, resuming from ``ckpt``.

    Args:
        recipe: the micro-batches, loss, save and load of this kind of training.
        model: the (accelerate-prepared) model being trained; ``accumulate`` tracks it.
        optimizer: the prepared optimizer.
        scheduler: the prepared learning-rate scheduler (stepped once per optimizer step).
        accelerator: the run's ``Accelerator`` (its ``gradient_accumulation_steps`` = micro-batches per step).
        spec: steps, clipping, checkpoint and evaluation cadence.
        ckpt: the checkpoint folder (None: no checkpoints, no resume).
        settings: JSON-able settings stamped into checkpoints; a checkpoint of other settings is refused.
        params: the parameters whose gradient norm is clipped (default: the model's).
        checkpoint_at: extra steps that are checkpointed (e.g. epoch ends).
        after_step: called after each optimizer step (e.g. max-norm weight constraints).
        on_step: ``on_step(step, metrics, lr)`` after each step, on the main process (metrics files).
        evaluate: ``evaluate(step) -> metrics`` every ``spec.eval_every`` steps and at the end.
        stop_after_steps: stop (after checkpointing) at this global step: how tests and time-boxed jobs
            interrupt a run.

    Returns:
        The step reached, the last step's metrics, whether all steps ran, and the evaluations.
    """
    step = 0
    found = checkpoint.find(ckpt) if ckpt is not None else None
    if found is not None:
        step = checkpoint.read_state(found, settings)  # refuses a checkpoint of other settings, naming them
        recipe.load(found)
        log.info("%s: resumed from %s at step %d/%d", spec.desc, found, step, spec.steps)
    resumed_at = step
    params = list(params) if params is not None else list(model.parameters())
    main = accelerator.is_main_process
    last: dict[str, float] = {}
    evaluations: list[dict] = []
    started = time.perf_counter()
    bar = progress_bar(total=spec.steps, initial=step, desc=spec.desc, unit="step", show=main)
    model.train()
    try:
        while step < spec.steps:
            stats: dict[str, float] = {}
            micro = recipe.micro_batches(step)
            for batch in micro:
                with accelerator.accumulate(model):
                    loss, parts = recipe.loss(batch, step)
                    accelerator.backward(loss)  # accelerate divides by the accumulation steps itself
                    if spec.max_grad_norm and accelerator.sync_gradients:
                        norm = accelerator.clip_grad_norm_(params, spec.max_grad_norm)
                        stats["grad_norm"] = float(norm)  # before clipping
                    optimizer.step()  # these three are no-ops until the last micro-batch of the step
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                parts = {"loss": float(loss.detach())} | parts
                for k, v in parts.items():
                    stats[k] = stats.get(k, 0.0) + (v if k in spec.summed else v / len(micro))
            step += 1
            if after_step is not None:
                after_step(step)
            last = stats
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.4f}", refresh=False)
            if on_step is not None and main:
                on_step(step, stats, scheduler.get_last_lr()[0])
            if evaluate is not None and spec.eval_every and (step % spec.eval_every == 0 or step == spec.steps):
                evaluations.append({"step": step} | evaluate(step))
                log.info("%s: step %d, evaluation %s", spec.desc, step,
                         ", ".join(f"{k} {v:.4g}" for k, v in evaluations[-1].items() if k != "step"))
                model.train()
            stop = stop_after_steps is not None and step >= stop_after_steps
            due = stop or step == spec.steps or checkpoint_at(step) or (
                spec.checkpoint_every and step % spec.checkpoint_every == 0)
            if ckpt is not None and due:
                checkpoint.save(ckpt, recipe.save, step, settings, accelerator)  # atomic, settings-stamped
            if stop:
                break
    finally:
        bar.close()
    model.eval()
    seconds = time.perf_counter() - started
    if main and step > resumed_at:  # the stage line: what a log file keeps of the bar
        log.info("%s: %d/%d steps, loss %.4f, %.0f s", spec.desc, step, spec.steps, last["loss"], seconds)
    return LoopResult(step, last, step >= spec.steps, evaluations, resumed_at, seconds)

"""Classic (classifier) distillation runs: `distill classic train`.

Modes:
  labels    train a model on hard labels (this is how teachers are made);
  response  Hinton KD from one teacher's soft targets;
  feature   response KD plus FitNets hints: named student layers, through a learned
            linear projection, regress the teacher's named layers (MSE);
  multi     response KD from the weighted mixture of several teachers' tempered outputs;
  self      born-again networks: generation 0 is trained on labels (or is the given
            teacher), and each next generation, of the same architecture, is distilled
            from the previous one.
Teacher outputs on the transfer set are computed once per run and cached to
``out/targets.safetensors``, so a resumed run does not recompute them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import field
from pathlib import Path
from typing import Literal

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

from distill.config import check, doc, settings, to_dict
from distill.data.idx import ImageSplit, load_idx_dataset
from distill.files import write_results
from distill.losses import mix_teachers
from distill.models import ARCHITECTURES, build_classifier
from distill.results import Result
from distill.train.classifier import (
    OptimConfig,
    Targets,
    count_errors,
    fit,
    load_classifier,
    predict,
    save_classifier,
)

log = logging.getLogger(__name__)


@settings
class ClassicConfig:
    """A classic distillation run. Every field can come from a YAML recipe or the command line."""

    mode: Literal["labels", "response", "feature", "multi", "self"] = doc(
        "labels (train a teacher), response, feature, multi, or self (born-again)", default="labels"
    )
    student: str = doc("student architecture", default="mlp-800", choices=tuple(sorted(ARCHITECTURES)))
    teachers: tuple[str, ...] = doc("saved teacher folder(s) (response/feature: one; multi: several)", default=())
    teacher_weights: tuple[float, ...] = doc("multi: weight of each teacher (default: equal)", default=())
    temperature: float = doc("softening temperature T", default=4.0, gt=0)
    ce_weight: float = doc("weight of the hard-label cross-entropy (1 − ce_weight on the T²-scaled KL)", default=0.1,
                           ge=0, le=1, was="alpha")
    hints: tuple[str, ...] = doc("feature: 'student_layer:teacher_layer' pairs", default=("hidden2:hidden1",))
    hint_weight: float = doc("feature: weight of the hint MSE terms", default=1.0)
    generations: int = doc("self: number of distilled generations after generation 0", default=2, ge=1)
    data_dir: str | None = doc("MNIST-style IDX folder (default: Debian's Fashion-MNIST)", default=None)
    validation: int = doc("training images held out (a seeded draw; never trained on, hidden from the teachers' "
                          "soft targets too) and scored every --train.eval-every steps", default=0, ge=0)
    out: str = doc("output folder (checkpoints, final model, results.json)", default="runs/classic")
    train: OptimConfig = field(default_factory=OptimConfig, metadata={"help": "optimization settings"})

    def __post_init__(self):
        check(self.student in ARCHITECTURES, "student", self.student, f"one of {sorted(ARCHITECTURES)}")
        if self.mode in ("response", "feature"):
            check(len(self.teachers) == 1, "teachers", self.teachers, f"exactly one teacher folder for mode {self.mode}")
        if self.mode == "multi":
            check(len(self.teachers) >= 2, "teachers", self.teachers, "two or more teacher folders for mode multi")
            check(not self.teacher_weights or len(self.teacher_weights) == len(self.teachers),
                  "teacher_weights", self.teacher_weights, f"empty or {len(self.teachers)} weights (one per teacher)")
        if self.mode == "feature":
            for h in self.hints:
                check(h.count(":") == 1, "hints", self.hints, "'student_layer:teacher_layer' pairs")
        if self.mode == "labels":
            check(not self.teachers, "teachers", self.teachers, "empty for mode labels")


def _fingerprint(teachers: tuple[str, ...], features: tuple[str, ...], n: int) -> str:
    h = hashlib.sha256()
    for t in teachers:
        h.update(Path(t, "model.safetensors").read_bytes())
    h.update(repr((features, n)).encode())
    return h.hexdigest()[:16]


def teacher_outputs(teachers: tuple[str, ...], images: torch.Tensor, features: tuple[str, ...], cache: Path | None):
    """Logits (T, N, C) of each teacher and the first teacher's named features, cached in ``cache``.

    The cache is keyed by a fingerprint of the teachers' weight files, ``features`` and N; a cache that
    does not load or does not match is recomputed and overwritten (written aside and renamed).

    Args:
        teachers: folders of classifiers saved by ``save_classifier``, T of them, in mixing order.
        images: (N, H, W) float transfer-set images, as the teachers were trained on.
        features: names of the first teacher's layers whose outputs to keep (feature mode); () for none.
        cache: the ``.safetensors`` file to reuse or write; None computes without caching (non-main processes).

    Returns:
        ``(logits, features)``: float32 logits (T, N, C) on the CPU, and a dict layer name → (N, d)
        activations of the first teacher (empty when ``features`` is).

    Raises:
        FileNotFoundError: a teacher folder is not a saved classifier.
        ValueError: a name in ``features`` is not a layer of the first teacher.
    """
    key = _fingerprint(teachers, features, len(images))
    if cache is not None and cache.exists():
        try:
            stored = load_file(cache)
        except Exception as e:  # torn or foreign (safetensors raises its own error type): computed again
            log.warning("teacher outputs: %s does not load (%s); computing them again", cache, e)
            stored = {}
        fp = stored.get("fingerprint")
        logits = stored.get("logits")
        if (fp is not None and bytes(fp.tolist()).decode(errors="replace") == key and logits is not None
                and tuple(logits.shape[:2]) == (len(teachers), len(images))):
            log.info("teacher outputs: reusing %s", cache)
            feats = {k[len("feature."):]: v for k, v in stored.items() if k.startswith("feature.")}
            return logits, feats
    logits, feats = [], {}
    for i, path in enumerate(teachers):
        model, _ = load_classifier(path)
        if i == 0 and features:
            out, feats = predict(model, images, features=features, desc=f"teacher {i}")
        else:
            out = predict(model, images, desc=f"teacher {i}")
        logits.append(out)
    logits = torch.stack(logits)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"logits": logits, "fingerprint": torch.tensor(list(key.encode()), dtype=torch.uint8)}
        tensors.update({f"feature.{k}": v.contiguous() for k, v in feats.items()})
        tmp = cache.with_name(cache.name + ".tmp")  # written aside and renamed: a crash never leaves a torn cache
        save_file(tensors, tmp)
        os.replace(tmp, cache)
    return logits, feats


def split_validation(train: ImageSplit, n: int, seed: int) -> tuple[ImageSplit, tuple[torch.Tensor, torch.Tensor] | None]:
    """Hold ``n`` training images out: a draw seeded by ``seed`` (the same ``n`` and seed, the same images).

    Args:
        train: the training split.
        n: images to hold out (0: none).
        seed: seed of the draw.

    Returns:
        The training split without them, and (images (n, H, W), labels (n,)) or None when ``n`` is 0.

    Raises:
        ValueError: ``n`` leaves fewer than one image to train on.
    """
    if n == 0:
        return train, None
    if n >= len(train.labels):
        raise ValueError(f"validation must be below the {len(train.labels):,} training images, got {n:,}.")
    order = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(seed))
    keep, out = order[n:].sort().values, order[:n].sort().values
    return ImageSplit(train.images[keep], train.labels[keep]), (train.images[out], train.labels[out])


class ClassicResult(Result):
    """What `distill classic train` returns (``results.json``)."""

    mode: str
    student_errors: int
    test_size: int
    config: dict

    def summary(self) -> str:
        teachers = f"; teacher(s) {self['teacher_errors']}" if "teacher_errors" in self else ""
        return (f"{self['mode']}: student test errors {self['student_errors']} of {self['test_size']}{teachers}; "
                f"results in {self['config']['out']}/results.json")


def run(cfg: ClassicConfig) -> ClassicResult:
    """Train as ``cfg`` says; write the final model and results.json to ``cfg.out``; return the results.

    Args:
        cfg: the run's settings (mode, student architecture, teachers, temperature, optimization).

    Returns:
        The results: mode, student architecture, test errors of the student (``student_errors``) out
        of ``test_size``, the teachers' test errors (``teacher_errors``, distillation modes) or each
        generation's (``generations``, mode self), the held-out scores during training (``evaluations``,
        with ``cfg.validation`` and ``cfg.train.eval_every``), wall seconds and the config; the same as
        ``cfg.out/results.json``, with ``markdown(res)`` as its report.

    Raises:
        FileNotFoundError: the data folder or a teacher folder is missing.
        ValueError: the transfer set is smaller than one batch, ``cfg.validation`` leaves no training
            image, or a hint names no layer.
    """
    t0 = time.time()
    train, test, dataset = load_idx_dataset(cfg.data_dir)
    train, held_out = split_validation(train, cfg.validation, cfg.train.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    # One Accelerator for the run: under `accelerate launch` every process trains its shard,
    # and only the main process writes files.
    acc = Accelerator()
    res: dict = {"dataset": dataset, "mode": cfg.mode, "student": cfg.student, "config": to_dict(cfg)}

    if cfg.mode == "self":
        res["generations"] = _born_again(cfg, train, test, out, acc)
        res["student_errors"] = res["generations"][-1]["errors"]
    else:
        targets = None
        if cfg.mode != "labels":
            pairs = tuple(tuple(h.split(":")) for h in cfg.hints) if cfg.mode == "feature" else ()
            t_layers = tuple(t for _, t in pairs)
            logits, feats = teacher_outputs(cfg.teachers, train.images, t_layers,
                                            out / "targets.safetensors" if acc.is_main_process else None)
            weights = cfg.teacher_weights or None
            # One teacher too: mix_teachers returns its logits unchanged.
            mixed = mix_teachers(list(logits), temperature=cfg.temperature, weights=weights)
            targets = Targets(mixed, cfg.temperature, cfg.ce_weight, feats, pairs, cfg.hint_weight)
            res["teacher_errors"] = [count_errors(predict(load_classifier(t)[0], test.images, desc="teacher"),
                                                  test.labels) for t in cfg.teachers]
        model = build_classifier(cfg.student, seed=cfg.train.seed)
        fitted = fit(model, train.images, train.labels, cfg.train, targets, run_dir=out, desc=cfg.mode,
                     accelerator=acc, held_out=held_out)
        if fitted.evaluations:
            res["evaluations"] = fitted.evaluations
        if acc.is_main_process:
            save_classifier(model, out / "final", cfg.student, 10, mode=cfg.mode)
        res["student_errors"] = count_errors(predict(model, test.images, desc="eval"), test.labels)
    res["test_size"] = len(test.labels)
    res["seconds"] = round(time.time() - t0, 1)
    res = ClassicResult(res, report=markdown(res))
    if acc.is_main_process:
        write_results(out, res)
    return res


def markdown(res: dict) -> str:
    """The run as a table: test errors of the student (and its teachers, or each generation).

    Args:
        res: the results dict ``run`` builds: needs ``mode``, ``dataset``, ``seconds``, ``test_size``,
            ``student`` and ``student_errors``; reads ``teacher_errors``, ``generations`` and
            ``evaluations`` (with ``config["validation"]``) when present.

    Returns:
        A Markdown document (title line and a model / test-errors table), ending in a newline.
    """
    n = res["test_size"]
    lines = [f"# distill classic train: {res['mode']} ({res['dataset']}, {res['seconds']:.0f} s)", "",
             f"| model | test errors (of {n:,}) |", "|---|---|"]
    for i, e in enumerate(res.get("teacher_errors", [])):
        lines.append(f"| teacher {i + 1} | {e} |")
    for g in res.get("generations", [])[:-1]:
        lines.append(f"| generation {g['generation']} | {g['errors']} |")
    lines.append(f"| student ({res['student']}) | {res['student_errors']} |")
    if res.get("evaluations"):
        held = res["config"]["validation"]
        lines += ["", f"Held-out training images ({held:,}, never trained on) during training:", "",
                  "| step | errors | cross-entropy |", "|---|---|---|"]
        lines += [f"| {e['step']:,} | {e['errors']} | {e['ce']:.4f} |" for e in res["evaluations"]]
    return "\n".join(lines) + "\n"


def _born_again(cfg: ClassicConfig, train, test, out: Path, acc: Accelerator) -> list[dict]:
    def save(model, path):
        if acc.is_main_process:
            save_classifier(model, path, cfg.student, 10)
        acc.wait_for_everyone()
        return path

    gens = []
    if cfg.teachers:
        prev_path = Path(cfg.teachers[0])
        prev, _ = load_classifier(prev_path)
    else:
        prev = build_classifier(cfg.student, seed=cfg.train.seed)
        fit(prev, train.images, train.labels, cfg.train, run_dir=out / "gen0", desc="generation 0", accelerator=acc)
        prev_path = save(prev, out / "gen0" / "final")
    gens.append({"generation": 0, "errors": count_errors(predict(prev, test.images, desc="eval"), test.labels)})
    for g in range(1, cfg.generations + 1):
        cache = out / f"gen{g}" / "targets.safetensors" if acc.is_main_process else None
        logits, _ = teacher_outputs((str(prev_path),), train.images, (), cache)
        model = build_classifier(cfg.student, seed=cfg.train.seed + g)  # a fresh draw per generation
        fit(model, train.images, train.labels, cfg.train, Targets(logits[0], cfg.temperature, cfg.ce_weight),
            run_dir=out / f"gen{g}", desc=f"generation {g}", accelerator=acc)
        prev_path = save(model, out / f"gen{g}" / "final")
        gens.append({"generation": g, "errors": count_errors(predict(model, test.images, desc="eval"), test.labels)})
        prev = model
    return gens

"""The reference experiment of Hinton, Vinyals & Dean (2015), section 3, reproduced.

Protocol (the paper's, with one documented change of teacher for Fashion-MNIST):
  * teacher: 784-1200-1200-10 ReLU MLP with dropout (0.2 input, 0.5 hidden), a max-norm
    constraint on incoming weights, and input jitter of up to ±2 pixels ("mlp"). On
    Fashion-MNIST that teacher is no better than the student, so there the default is a
    small CNN trained with the same jitter ("cnn"), or an ensemble of MLP teachers
    (the paper's section 3 on ensembles, "ensemble");
  * student alone: 784-800-800-10 ReLU MLP, no regularization, hard labels;
  * distilled student: the same net and training, on the teacher's soft targets at T = 20
    (plus a small weight α on the hard labels), and a sweep over T;
  * omitted class: the transfer set loses every image of class 3; the distilled student
    is scored before and after raising its class-3 bias by an amount chosen on the
    training data (never on the test set);
  * optionally (``validation``), T and α chosen on held-out *training* images, with a
    teacher trained without them, and a second distilled student trained at that choice.
The teacher's outputs on the transfer set are computed once and cached.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Literal

import torch

from distill.config import check, doc, settings, to_dict
from distill.data.idx import ImageSplit, load_idx_dataset
from distill.experiments import logit_cache
from distill.files import atomic_json, write_results
from distill.hashing import sha256_files
from distill.losses import mix_teachers
from distill.models import build_classifier
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

PAPER = {  # Hinton et al. 2015, MNIST, section 3
    "teacher_errors": 67,
    "student_errors": 146,
    "distilled_errors": 74,
    "omitted_class": {"errors_before": 206, "class_errors_before": 133, "errors_after": 109,
                      "class_errors_after": 14, "bias": 3.5},
}
TEACHER_ASSET = "fashion_mnist_cnn_teacher"  # folder in distill/assets, see `--export-teacher`


@settings
class HintonConfig:
    """Settings of `distill experiment hinton`."""

    data_dir: str | None = doc("folder with MNIST-style IDX files (default: Debian's Fashion-MNIST)", default=None)
    teacher: Literal["auto", "mlp", "cnn", "ensemble"] = doc(
        "teacher kind; auto = mlp for MNIST, cnn for Fashion-MNIST", default="auto"
    )
    teacher_checkpoint: str | None = doc(
        "use this saved teacher (folder from --export-teacher or `distill classic train`) instead of training one",
        default=None,
    )
    quick: bool = doc("small budget (≤ 5 min on 2 cores): packaged teacher, students on a 10,000-image subset",
                      default=False)
    seeds: tuple[int, ...] = doc("seeds; each trains its own teacher and students", default=(0,))
    temperature: float = doc("temperature of the headline distilled student", default=20.0, gt=0)
    sweep: tuple[float, ...] = doc("temperatures of the sweep (T = temperature is reused)",
                                   default=(1.0, 2.0, 4.0, 8.0, 20.0))
    sweep_seeds: int = doc("run the temperature sweep for the first N seeds only (the T = temperature run is done for all)",
                           default=1, ge=1)
    ce_weight: float = doc("weight α of the hard-label term in the distillation loss", default=0.1, ge=0, le=1,
                           was="alpha")
    omitted_class: int = doc("class removed from the transfer set in the omitted-class experiment", default=3, ge=0, le=9)
    teacher_epochs: int = doc("teacher training epochs (0: 12 for cnn, 60 for mlp / ensemble members)", default=0, ge=0)
    student_epochs: int = doc("student training epochs, the same for every student", default=30, ge=1)
    train_subset: int = doc("students learn from a class-balanced subset of N training images (N/10 per class, "
                            "the first of each class; 0: all); the teacher always saw every image", default=0)
    ensemble_size: int = doc("members of the ensemble teacher", default=5, ge=2)
    validation: int = doc(
        "hold out N training images (a fixed random draw) to choose T (from --sweep) and α (from "
        "--select-ce-weights) for a second distilled student; a separate teacher is trained without them "
        "(0: no selection)", default=0)
    select_ce_weights: tuple[float, ...] = doc("CE weights α tried at each sweep temperature when --validation is set",
                                           default=(0.1, 0.5, 0.9), was="select_alphas")
    lr: float = doc("peak learning rate of the students (SGD, momentum 0.9, one-cycle)", default=0.05)
    out: str = doc("output folder for results.json, results.md, the plot, and trained teachers",
                   default="runs/hinton")
    export_teacher: str | None = doc("save the first seed's teacher to this folder (fp16) for --quick runs",
                                     default=None)

    def __post_init__(self):
        check(len(self.seeds) >= 1, "seeds", self.seeds, "at least one integer")
        check(all(t > 0 for t in self.sweep), "sweep", self.sweep, "temperatures > 0")
        check(self.train_subset == 0 or self.train_subset >= 100, "train_subset", self.train_subset,
              "0 (all images) or ≥ 100")
        check(self.validation == 0 or self.validation >= 100, "validation", self.validation,
              "0 (no selection) or ≥ 100 images")
        check(len(self.select_ce_weights) >= 1 and all(0 <= a <= 1 for a in self.select_ce_weights), "select_ce_weights",
              self.select_ce_weights, "one or more values in [0, 1]")

    def resolved(self, dataset: str) -> "HintonConfig":
        """Fill in 'auto' values and the quick-mode budget.

        Args:
            dataset: the loaded data set's name ("mnist" or "fashion-mnist").

        Returns:
            A copy with ``teacher``, ``teacher_epochs`` and (quick mode) the budget filled in.
        """
        cfg = self
        if cfg.teacher == "auto":
            cfg = replace(cfg, teacher="cnn" if dataset == "fashion-mnist" else "mlp")
        if cfg.teacher_epochs == 0:
            cfg = replace(cfg, teacher_epochs=12 if cfg.teacher == "cnn" else 60)
        if cfg.quick:
            # A smaller budget, same protocol: the students see a 10,000-image, class-balanced
            # subset of the transfer set (20 epochs), so that the student trained alone overfits
            # as it does on all 60,000 images in 30 epochs; the teacher is the packaged one.
            cfg = replace(
                cfg,
                seeds=cfg.seeds[:1],
                student_epochs=min(cfg.student_epochs, 20),
                train_subset=cfg.train_subset or 10_000,
                teacher_epochs=min(cfg.teacher_epochs, 4),
                ensemble_size=min(cfg.ensemble_size, 2),
            )
        return cfg


def student_optim(cfg: HintonConfig, seed: int) -> OptimConfig:
    """Optimizer settings of every student (alone and distilled alike: only the targets differ).

    Args:
        cfg: the resolved experiment settings.
        seed: the student's seed.

    Returns:
        The `OptimConfig`.
    """
    return OptimConfig(epochs=cfg.student_epochs, batch_size=100, lr=cfg.lr, seed=seed)


def teacher_optim(cfg: HintonConfig, seed: int) -> OptimConfig:
    """Optimizer settings of a teacher (CNN: weight decay; MLP: Hinton's dropout and max-norm teacher).

    Args:
        cfg: the resolved experiment settings.
        seed: the teacher's seed.

    Returns:
        The `OptimConfig`.
    """
    if cfg.teacher == "cnn":
        return OptimConfig(epochs=cfg.teacher_epochs, lr=0.05, weight_decay=5e-4, jitter=2, seed=seed)
    # Hinton's MLP teacher: dropout + max-norm (in the model) and ±2 px jitter.
    return OptimConfig(epochs=cfg.teacher_epochs, lr=0.05, jitter=2, seed=seed)


def _teacher_arches(cfg: HintonConfig) -> list[str]:
    if cfg.teacher == "cnn":
        return ["cnn"]
    if cfg.teacher == "mlp":
        return ["mlp-1200"]
    return ["mlp-1200"] * cfg.ensemble_size


def packaged_teacher() -> Path | None:
    path = Path(str(resources.files("distill") / "assets" / TEACHER_ASSET))
    return path if (path / "model.safetensors").exists() else None


def _checkpoint(cfg: HintonConfig) -> tuple[str | None, bool]:
    """(the saved teacher to load, or None to train one; whether it is the packaged one)."""
    if cfg.teacher_checkpoint is None and cfg.quick and cfg.teacher == "cnn":
        asset = packaged_teacher()
        if asset is not None:
            return str(asset), True
    return cfg.teacher_checkpoint, False


def _teacher_stamp(cfg: HintonConfig, seed: int, checkpoint: str | None) -> dict:
    if checkpoint is not None:
        files = [Path(checkpoint) / name for name in ("config.json", "model.safetensors")]
        return {"teacher checkpoint": sha256_files(files)}
    members = [{"arch": arch, "optim": to_dict(teacher_optim(cfg, seed * 100 + m))}
               for m, arch in enumerate(_teacher_arches(cfg))]
    return {"teacher settings": members}


def get_teacher_logits(cfg: HintonConfig, seed: int, train, test, out: Path) -> logit_cache.Logits:
    """Each teacher's logits on the transfer set (train) and test set, from the cache or computed.

    A loaded teacher's logits are the same for every seed: they are cached once in ``out``; trained
    teachers' per seed. Exporting the teacher needs the model itself, so it bypasses the cache.

    Args:
        cfg: the resolved experiment settings.
        seed: the run's seed.
        train: the transfer set (ImageSplit).
        test: the test set (ImageSplit).
        out: the results folder holding the cache.

    Returns:
        (train logits per teacher, each (N_train, 10); test logits per teacher, each (N_test, 10);
        the teacher's label).
    """
    checkpoint, packaged = _checkpoint(cfg)
    cache = (out if checkpoint else out / f"seed{seed}") / "teacher_logits.safetensors"
    stamped = logit_cache.stamp(train, test, _teacher_stamp(cfg, seed, checkpoint))
    exporting = checkpoint is None and cfg.export_teacher and seed == cfg.seeds[0]
    cached = None if exporting else logit_cache.load(cache, stamped)
    if cached is not None:
        return cached
    logits = _teacher_logits(cfg, seed, train, test, out, checkpoint, packaged)
    logit_cache.save(cache, stamped, logits)
    return logits


def _teacher_logits(cfg, seed, train, test, out: Path, checkpoint: str | None, packaged: bool) -> logit_cache.Logits:
    """Load or train the teacher(s) and run them on both splits."""
    if checkpoint is not None:
        model, meta = load_classifier(checkpoint)
        log.info("teacher: %s from %s", meta["arch"], checkpoint)
        return [predict(model, train.images, desc="teacher")], [predict(model, test.images, desc="teacher")], \
            teacher_label(meta["arch"], checkpoint, packaged)
    train_logits, test_logits = [], []
    for m, arch in enumerate(_teacher_arches(cfg)):
        member_seed = seed * 100 + m
        model = build_classifier(arch, seed=member_seed)
        run = out / f"seed{seed}" / f"teacher{m}"
        fit(model, train.images, train.labels, teacher_optim(cfg, member_seed), run_dir=run,
            desc=f"teacher {arch} #{m} (seed {seed})")
        save_classifier(model, run / "final", arch, 10, seed=member_seed)
        train_logits.append(predict(model, train.images, desc="teacher"))
        test_logits.append(predict(model, test.images, desc="teacher"))
        if cfg.export_teacher and seed == cfg.seeds[0] and m == 0:
            export_teacher(model, cfg.export_teacher, arch, member_seed)
    return train_logits, test_logits, cfg.teacher


def teacher_label(arch: str, checkpoint: str, packaged: bool) -> str:
    """A legend-sized name of a loaded teacher: the folder's name, never its absolute path.

    Args:
        arch: the teacher's architecture.
        checkpoint: its folder.
        packaged: whether it is the packaged teacher.

    Returns:
        The label.
    """
    return f"{arch.upper()}, packaged" if packaged else f"{arch.upper()}, from {Path(checkpoint).name}"


def export_teacher(model, path: str, arch: str, seed: int) -> None:
    """Save a teacher in fp16 (half the bytes; its logits change by < 1e-2) for quick runs.

    Args:
        model: the trained teacher (converted back to fp32 after saving).
        path: the folder to write.
        arch: its architecture name.
        seed: its seed (recorded).
    """
    model = model.half()
    save_classifier(model, path, arch, 10, seed=seed, exported_by="distill experiment hinton --export-teacher")
    model.float()
    log.info("exported teacher to %s", path)


def _student_errors(cfg, seed, train, test, targets: Targets | None, run: Path, images=None, labels=None, desc=""):
    model = build_classifier("mlp-800", seed=seed)  # every student of a seed starts from the same weights
    images = train.images if images is None else images
    labels = train.labels if labels is None else labels
    fit(model, images, labels, student_optim(cfg, seed), targets, run_dir=run, desc=desc)
    return model, predict(model, test.images, desc="eval")


def choose_bias(train_logits: torch.Tensor, train_labels: torch.Tensor, cls: int) -> float:
    """Bias added to class ``cls``'s logit that minimizes errors on the training data (grid 0..10, step 0.25).

    Args:
        train_logits: (N, C) logits.
        train_labels: (N,) labels.
        cls: the class whose logit is shifted.

    Returns:
        The best bias.
    """
    best, best_err = 0.0, None
    for b in torch.arange(0, 10.001, 0.25).tolist():
        shifted = train_logits.clone()
        shifted[:, cls] += b
        err = count_errors(shifted, train_labels)
        if best_err is None or err < best_err:
            best, best_err = b, err
    return best


def class_balanced_subset(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the first n / C images of each of the C classes, in data-set order.

    Args:
        labels: (N,) class labels 0..C-1.
        n: the subset's size (n // C per class).

    Returns:
        (n,) sorted row indices (fewer where a class has fewer images).
    """
    classes = int(labels.max()) + 1
    per = n // classes
    return torch.cat([(labels == c).nonzero().squeeze(1)[:per] for c in range(classes)]).sort().values


VALIDATION_SEED = 1234  # the held-out draw is the same for every seed and every run


def validation_split(n_images: int, n_held_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fit rows, held-out rows) of a fixed random draw of ``n_held_out`` of ``n_images`` rows, each sorted.

    Args:
        n_images: number of training rows.
        n_held_out: rows to hold out.

    Returns:
        (fit rows, held-out rows).

    Raises:
        ValueError: ``n_held_out`` is not in 0 < N < ``n_images``.
    """
    if not 0 < n_held_out < n_images:
        raise ValueError(f"validation holds out {n_held_out} of {n_images} training images; choose 0 < N < {n_images}.")
    perm = torch.randperm(n_images, generator=torch.Generator().manual_seed(VALIDATION_SEED))
    return perm[n_held_out:].sort().values, perm[:n_held_out].sort().values


def _combined(logits: list[torch.Tensor], T: float) -> torch.Tensor:
    """The teachers' logits mixed at temperature T (one teacher: its logits unchanged)."""
    return mix_teachers(logits, temperature=T)


def _distilled_dir(T: float, alpha: float) -> str:
    return f"distilled_T{T:g}_alpha{alpha:g}"


def select_on_validation(cfg: HintonConfig, train: ImageSplit, out: Path) -> dict:
    """Choose (T, α) for the distilled student on held-out training images, never on the test set.

    The teacher here is trained (first seed) on the remaining images only: a teacher that saw
    the held-out images knows their labels, and its soft targets could carry them to the
    student. Students are trained as in the main
    experiment (same epochs, optimizer, ``train_subset``) on every (T in ``sweep``, α in
    ``select_ce_weights``); the lowest held-out error count wins, ties to the earlier pair.

    Args:
        cfg: the resolved experiment settings.
        train: the full training split.
        out: the results folder (runs go under ``out/validation``).

    Returns:
        JSON-able dict: ``images``, ``seed``, ``teacher_errors``, ``student_errors``, ``grid``
        ({T: {α: errors}}), ``validation_errors`` and the chosen ``temperature`` and ``ce_weight``.
    """
    seed = cfg.seeds[0]
    fit_rows, val_rows = validation_split(len(train.labels), cfg.validation)
    fit_split = ImageSplit(train.images[fit_rows], train.labels[fit_rows])
    held_out = ImageSplit(train.images[val_rows], train.labels[val_rows])
    run = out / "validation"
    teacher_cfg = replace(cfg, teacher_checkpoint=None, export_teacher=None, quick=False)
    tr_logits, val_logits, _ = get_teacher_logits(teacher_cfg, seed, fit_split, held_out, run)
    teacher_val = _combined(val_logits, 1.0)
    if cfg.train_subset:
        rows = class_balanced_subset(fit_split.labels, cfg.train_subset)
        fit_split = ImageSplit(fit_split.images[rows], fit_split.labels[rows])
        tr_logits = [z[rows] for z in tr_logits]
    y_val = held_out.labels
    res = {"images": cfg.validation, "seed": seed, "teacher_errors": count_errors(teacher_val, y_val)}
    _, logits = _student_errors(cfg, seed, fit_split, held_out, None, run / "student", desc="validation: alone")
    res["student_errors"] = count_errors(logits, y_val)
    grid: dict[str, dict[str, int]] = {}
    best = None
    for T in sorted(set(cfg.sweep)):
        logits_T = _combined(tr_logits, T)
        for a in cfg.select_ce_weights:
            _, logits = _student_errors(cfg, seed, fit_split, held_out, Targets(logits=logits_T, temperature=T, ce_weight=a),
                                        run / _distilled_dir(T, a), desc=f"validation: T={T:g} α={a:g}")
            errors = count_errors(logits, y_val)
            grid.setdefault(f"{T:g}", {})[f"{a:g}"] = errors
            if best is None or errors < best[0]:
                best = (errors, T, a)
    res.update(grid=grid, validation_errors=best[0], temperature=best[1], ce_weight=best[2])
    log.info("chosen on %d held-out training images: T=%g, α=%g (%d errors; student alone %d)",
             cfg.validation, best[1], best[2], best[0], res["student_errors"])
    return res


def run_seed(cfg: HintonConfig, seed: int, train, test, out: Path, selected: dict | None = None) -> dict:
    """Train one seed's teacher (or load it), student alone and distilled students; count test errors.

    Args:
        cfg: the resolved experiment settings.
        seed: the seed.
        train: the transfer set.
        test: the test set.
        out: the results folder.
        selected: a `select_on_validation` result, to also train its (T, α) (None: none).

    Returns:
        JSON-able dict: ``seed``, ``teacher``, error counts of teacher, student alone and distilled
        student, ``temperature_sweep``, ``gap_closed``, ``omitted_class``, ``seconds`` (and
        ``selected_distilled_errors`` with ``selected``).
    """
    t0 = time.time()
    y_test = test.labels
    tr_logits, te_logits, teacher_desc = get_teacher_logits(cfg, seed, train, test, out)
    if cfg.train_subset:
        rows = class_balanced_subset(train.labels, cfg.train_subset)
        train = ImageSplit(train.images[rows], train.labels[rows])
        tr_logits = [z[rows] for z in tr_logits]
    teacher_test = _combined(te_logits, 1.0)
    res = {"seed": seed, "teacher": teacher_desc, "teacher_errors": count_errors(teacher_test, y_test)}
    log.info("seed %d: teacher: %d test errors", seed, res["teacher_errors"])

    _, logits = _student_errors(cfg, seed, train, test, None, out / f"seed{seed}" / "student", desc="student alone")
    res["student_errors"] = count_errors(logits, y_test)
    log.info("seed %d: student alone: %d test errors", seed, res["student_errors"])

    def targets_at(T: float, rows=None, alpha: float = cfg.ce_weight) -> Targets:
        logits_T = _combined(tr_logits, T)
        return Targets(logits=logits_T if rows is None else logits_T[rows], temperature=T, ce_weight=alpha)

    sweep = {}
    temps = set(cfg.sweep) if seed in cfg.seeds[: cfg.sweep_seeds] else set()
    for T in sorted(temps | {cfg.temperature}):
        _, logits = _student_errors(cfg, seed, train, test, targets_at(T), out / f"seed{seed}" / _distilled_dir(T, cfg.ce_weight),
                                    desc=f"distilled T={T:g}")
        sweep[f"{T:g}"] = count_errors(logits, y_test)
    res["temperature_sweep"] = sweep
    log.info("seed %d: temperature sweep (α = %g): %s test errors", seed, cfg.ce_weight,
             ", ".join(f"T={T} {e}" for T, e in sweep.items()))
    res["distilled_errors"] = sweep[f"{cfg.temperature:g}"]
    gap = res["student_errors"] - res["teacher_errors"]
    res["gap_closed"] = (res["student_errors"] - res["distilled_errors"]) / gap if gap else None
    if selected is not None:
        T, a = selected["temperature"], selected["ce_weight"]
        if a == cfg.ce_weight and f"{T:g}" in sweep:
            res["selected_distilled_errors"] = sweep[f"{T:g}"]
        else:
            _, logits = _student_errors(cfg, seed, train, test, targets_at(T, alpha=a), out / f"seed{seed}" / _distilled_dir(T, a),
                                        desc=f"distilled T={T:g} α={a:g} (chosen on validation)")
            res["selected_distilled_errors"] = count_errors(logits, y_test)
        log.info("seed %d: distilled at T=%g, α=%g (chosen on validation): %d test errors", seed, T, a,
                 res["selected_distilled_errors"])

    c = cfg.omitted_class
    keep = (train.labels != c).nonzero().squeeze(1)
    model, logits = _student_errors(
        cfg, seed, train, test, targets_at(cfg.temperature, keep), out / f"seed{seed}" / f"omitted{c}",
        images=train.images[keep], labels=train.labels[keep], desc=f"omitted class {c}",
    )
    bias = choose_bias(predict(model, train.images, desc="bias"), train.labels, c)
    after = logits.clone()
    after[:, c] += bias
    is_c = y_test == c
    res["omitted_class"] = {
        "class": c,
        "errors_before": count_errors(logits, y_test),
        "class_errors_before": count_errors(logits[is_c], y_test[is_c]),
        "errors_after": count_errors(after, y_test),
        "class_errors_after": count_errors(after[is_c], y_test[is_c]),
        "bias": bias,
        "class_test_count": int(is_c.sum()),
    }
    oc = res["omitted_class"]
    log.info("seed %d: omitted class %d: %d test errors (%d of class %d) before, %d (%d) after raising its bias by %g",
             seed, c, oc["errors_before"], oc["class_errors_before"], c, oc["errors_after"], oc["class_errors_after"],
             bias)
    res["seconds"] = round(time.time() - t0, 1)
    return res


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(per_seed: list[dict], dataset: str, cfg: HintonConfig, seconds: float,
              selection: dict | None = None) -> dict:
    """Top-level figures are means over seeds; ``std`` holds the seed-to-seed standard deviations.

    With ``selection`` (from ``select_on_validation``), ``selected`` adds the distilled student
    at the validation-chosen (T, α) on the test set, with its own target check.

    Args:
        per_seed: the `run_seed` results.
        dataset: the data set's name.
        cfg: the resolved experiment settings.
        seconds: the run's wall time.
        selection: a `select_on_validation` result (None: none).

    Returns:
        JSON-able results: means and ``std``, ``gap_closed``, ``improvement``, ``temperature_sweep``,
        ``omitted_class``, ``config``, ``per_seed`` and the ``target`` checks.
    """
    out = {"dataset": dataset, "teacher": per_seed[0]["teacher"], "mode": "quick" if cfg.quick else "full",
           "seeds": [r["seed"] for r in per_seed], "std": {}}
    for key in ("teacher_errors", "student_errors", "distilled_errors"):
        out[key], out["std"][key] = _mean_std([r[key] for r in per_seed])
    gap = out["student_errors"] - out["teacher_errors"]
    out["gap_closed"] = (out["student_errors"] - out["distilled_errors"]) / gap if gap else None
    margins = [r["student_errors"] - r["distilled_errors"] for r in per_seed]
    out["improvement"], out["std"]["improvement"] = _mean_std(margins)
    # Mean over the seeds that ran each temperature (the sweep may cover only the first seeds).
    out["temperature_sweep"] = {T: statistics.fmean(r["temperature_sweep"][T] for r in per_seed
                                                    if T in r["temperature_sweep"])
                                for T in per_seed[0]["temperature_sweep"]}
    out["temperature_sweep_seeds"] = {T: sum(T in r["temperature_sweep"] for r in per_seed)
                                      for T in per_seed[0]["temperature_sweep"]}
    oc = {}
    for key in per_seed[0]["omitted_class"]:
        vals = [r["omitted_class"][key] for r in per_seed]
        oc[key] = statistics.fmean(vals) if key not in ("class", "class_test_count") else vals[0]
    out["omitted_class"] = oc
    if selection is not None:
        sel = dict(selection)
        sel["distilled_errors"], sel["distilled_errors_std"] = _mean_std([r["selected_distilled_errors"] for r in per_seed])
        margins = [r["student_errors"] - r["selected_distilled_errors"] for r in per_seed]
        sel["improvement"], sel["improvement_std"] = _mean_std(margins)
        noise = max(out["std"]["student_errors"], sel["distilled_errors_std"], sel["improvement_std"])
        sel["target"] = {"improvement_at_least_40": sel["improvement"] >= 40,
                         "improvement_exceeds_3_std": len(per_seed) > 1 and sel["improvement"] > 3 * noise}
        out["selected"] = sel
    out["seconds"] = round(seconds, 1)
    out["config"] = to_dict(cfg)
    out["per_seed"] = per_seed
    noise = max(out["std"]["student_errors"], out["std"]["distilled_errors"], out["std"]["improvement"])
    out["target"] = {
        "improvement_at_least_40": out["improvement"] >= 40,
        "improvement_exceeds_3_std": len(per_seed) > 1 and out["improvement"] > 3 * noise,
        "omitted_class_mostly_recovered": oc["class_errors_before"] > 0
        and (oc["class_errors_before"] - oc["class_errors_after"]) / oc["class_errors_before"] > 0.5,
    }
    return out


def count(v: float, seeds: int = 1) -> str:
    """An error count of one seed as a reader expects it, 587 not 587.0; a mean over seeds with one decimal.

    Args:
        v: the error count (or mean).
        seeds: how many seeds it is over.

    Returns:
        The formatted count.
    """
    return f"{v:.0f}" if seeds == 1 and float(v).is_integer() else f"{v:.1f}"


def seeds_phrase(n: int) -> str:
    """How many seeds a figure is over, in words.

    Args:
        n: the number of seeds.

    Returns:
        "1 seed" or "N seeds (mean ± std)".
    """
    return "1 seed" if n == 1 else f"{n} seeds (mean ± std)"


def markdown(res: dict) -> str:
    """The Markdown report of the experiment, next to the paper's figures.

    Args:
        res: an `aggregate` result.

    Returns:
        Markdown text.
    """
    n = len(res["seeds"])

    def f(key):
        # One seed has no spread to show; two or more always show it, a 0 included.
        v, s = res[key], res.get("std", {}).get(key)
        return f"{count(v, n)} ± {s:.1f}" if n > 1 and s is not None else count(v, n)

    oc, p = res["omitted_class"], PAPER["omitted_class"]
    sel = res.get("selected")
    seeds = res.get("temperature_sweep_seeds", {})  # how many seeds each sweep mean is over
    lines = [
        f"Dataset: {res['dataset']} · teacher: {res['teacher']} · {res['mode']} mode · "
        f"{seeds_phrase(n)} · students on "
        f"{res['config']['train_subset'] or 60000:,} training images, {res['config']['student_epochs']} epochs · "
        f"{res['seconds']:.0f} s",
        "",
        "| test errors (of 10,000) | this run | Hinton et al. 2015 (MNIST) |",
        "|---|---|---|",
        f"| teacher | {f('teacher_errors')} | {PAPER['teacher_errors']} |",
        f"| student alone (800-800, hard labels) | {f('student_errors')} | {PAPER['student_errors']} |",
        f"| distilled student (T = {res['config']['temperature']:g}) | {f('distilled_errors')} | "
        f"{PAPER['distilled_errors']} |",
        *([f"| distilled student (T = {sel['temperature']:g}, α = {sel['ce_weight']:g}, chosen on {sel['images']:,} "
            f"held-out training images) | {count(sel['distilled_errors'], n)}"
            + (f" ± {sel['distilled_errors_std']:.1f}" if n > 1 else "") + " | |"] if sel else []),
        f"| gap closed (T = {res['config']['temperature']:g}) | {res['gap_closed']:.0%} | 91% |",
        f"| omitted class {oc['class']}: errors before bias fix (class {oc['class']} errors) | "
        f"{count(oc['errors_before'], n)} ({count(oc['class_errors_before'], n)}) | {p['errors_before']} ({p['class_errors_before']}) |",
        f"| omitted class {oc['class']}: after raising its bias by {oc['bias']:.2g} | "
        f"{count(oc['errors_after'], n)} ({count(oc['class_errors_after'], n)}) | {p['errors_after']} ({p['class_errors_after']}), "
        f"bias {p['bias']} |",
        "",
        "| T | " + " | ".join(res["temperature_sweep"]) + " |",
        "|---|" + "---|" * len(res["temperature_sweep"]),
        "| distilled errors | " + " | ".join(count(v, seeds.get(T, n)) for T, v in res["temperature_sweep"].items()) + " |",
        "| seeds | " + " | ".join(str(v) for v in res.get("temperature_sweep_seeds", {}).values()) + " |",
    ]
    if sel:
        alphas = list(next(iter(sel["grid"].values())))
        lines += [
            "",
            f"Choice of T and α: errors on {sel['images']:,} held-out training images (seed {sel['seed']}; teacher "
            f"trained without them: {sel['teacher_errors']} errors; student alone: {sel['student_errors']})",
            "",
            "| α \\ T | " + " | ".join(sel["grid"]) + " |",
            "|---|" + "---|" * len(sel["grid"]),
            *(f"| {a} | " + " | ".join(
                f"**{g[a]}**" if (float(T), float(a)) == (sel["temperature"], sel["ce_weight"]) else str(g[a])
                for T, g in sel["grid"].items()) + " |" for a in alphas),
        ]
    return "\n".join(lines) + "\n"


def figure(res: dict):
    """The temperature sweep (and, with a validation choice, the (T, α) grid) as a matplotlib Figure.

    Args:
        res: an `aggregate` result.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    from distill.plotting import legend_below

    # Legends go below the panels: inside, a long teacher label made one wider than the figure.
    temps = [float(t) for t in res["temperature_sweep"]]
    errs = list(res["temperature_sweep"].values())
    sel = res.get("selected")
    fig = Figure(figsize=(11 if sel else 6, 5), dpi=120, layout="constrained")
    axes = fig.subplots(1, 2 if sel else 1, squeeze=False)
    ax = axes[0, 0]
    ax.plot(temps, errs, "o-", label=f"distilled student (α = {res['config']['ce_weight']:g})")
    ax.axhline(res["student_errors"], color="tab:red", ls="--", label="student alone")
    ax.axhline(res["teacher_errors"], color="tab:green", ls=":", label=f"teacher ({res['teacher']})")
    ax.set_xscale("log")
    ax.set_xticks(temps, [f"{t:g}" for t in temps])
    ax.set_xlabel("temperature T")
    ax.set_ylabel("test errors (of 10,000)")
    ax.set_title(f"{res['dataset']}: test errors vs T")
    if sel:
        ax.plot([sel["temperature"]], [sel["distilled_errors"]], "*", ms=14, color="tab:purple",
                label=f"chosen on validation (T = {sel['temperature']:g}, α = {sel['ce_weight']:g})")
    legend_below(ax)
    if sel:
        ax = axes[0, 1]
        grid_t = [float(t) for t in sel["grid"]]
        for a in next(iter(sel["grid"].values())):
            ax.plot(grid_t, [g[a] for g in sel["grid"].values()], "o-", label=f"distilled, α = {a}")
        ax.axhline(sel["student_errors"], color="tab:red", ls="--", label="student alone")
        ax.plot([sel["temperature"]], [sel["validation_errors"]], "*", ms=14, color="tab:purple", label="chosen")
        ax.set_xscale("log")
        ax.set_xticks(grid_t, [f"{t:g}" for t in grid_t])
        ax.set_xlabel("temperature T")
        ax.set_ylabel(f"errors on {sel['images']:,} held-out\ntraining images")
        ax.set_title("Choosing T and α (never on the test set)")
        legend_below(ax)
    return fig


def plot(res: dict, path: Path) -> None:
    """Save `figure` of ``res`` to ``path``.

    Args:
        res: an `aggregate` result.
        path: the image file to write.
    """
    figure(res).savefig(path)


class HintonResult(Result):
    """What `distill experiment hinton` returns (``results.json``); its summary is ``results.md``."""

    dataset: str
    seeds: list
    teacher_errors: float
    student_errors: float
    distilled_errors: float
    temperature_sweep: dict
    omitted_class: dict
    config: dict

def run(cfg: HintonConfig) -> HintonResult:
    """Run the experiment and write results.json, results.md and temperature.png to ``cfg.out``.

    Args:
        cfg: the experiment settings.

    Returns:
        The `aggregate` result.
    """
    t0 = time.time()
    train, test, dataset = load_idx_dataset(cfg.data_dir)
    cfg = cfg.resolved(dataset)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    selection = None
    if cfg.validation:
        selection = select_on_validation(cfg, train, out)
        atomic_json(out / "validation.json", selection)
    per_seed = []
    for seed in cfg.seeds:
        per_seed.append(run_seed(cfg, seed, train, test, out, selection))
        atomic_json(out / f"seed{seed}.json", per_seed[-1])
    res = aggregate(per_seed, dataset, cfg, time.time() - t0, selection)
    res = HintonResult(res, report=markdown(res))
    write_results(out, res)
    plot(res, out / "temperature.png")
    return res

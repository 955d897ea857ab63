"""Weak teachers: does a small or undertrained teacher still help a student? A grid, on two paths.

After "Strong Teacher Not Needed? On Distillation in LLM Pretraining" (2026), which reports that
small, undertrained teachers can still improve larger students when the LM and distillation losses
are mixed well, that stronger teachers can saturate or reverse the gain, and that the gain shows more
out of distribution. The grid here is teacher strength (size × training budget) × student size × loss
mix (KD weight and temperature; KD weight 0 is the student trained alone, the baseline), on:

  * the image path: MLP classifiers on Fashion-MNIST (or any MNIST-style IDX folder), trained by
    ``distill.train.classifier.fit`` with cached teacher logits as ``Targets``; scored by test accuracy
    in distribution and out of distribution: on MNIST's test images when ``--mnist-dir`` is given,
    else on the same test images shifted and rotated (fixed, deterministic transforms);
  * the LM path: tiny Llama models (``transformers.LlamaConfig``) with a byte-level BPE tokenizer
    trained here (``tokenizers``), on Python's own documentation (``pydoc_data.topics``, in domain)
    and man pages (out of domain; Python's standard-library sources where ``man`` is missing),
    trained by ``distill lm train`` (the package's one loop): teachers on cross-entropy alone,
    students on ``(1 − w) · CE + w · forward_kl``; scored in bits per byte in and out of domain.

The KD weight ``w`` here is the weight of the distillation term: the package's ``ce_weight`` is 1 − w.
Every grid cell is written to ``OUT/cells/`` as it finishes; a rerun on the same folder skips finished
cells and refuses settings other than those the folder was started with (more seeds may be added).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import torch

from distill.config import check, doc, settings, to_dict
from distill.files import atomic_json, atomic_text, write_results
from distill.progress import bar
from distill.results import Result

log = logging.getLogger(__name__)

PAPER = "Strong Teacher Not Needed? On Distillation in LLM Pretraining (2026)"
CLAIMS = {
    "weak_teacher_helps": "small, undertrained teachers can still improve larger students when LM and KD losses "
                          "are mixed well",
    "strong_teacher_saturates": "stronger teachers can saturate or reverse the gain",
    "gain_larger_ood": "the gain shows more out of distribution",
}
MAN_PAGES = ("ls", "cp", "mv", "grep", "find", "tar", "sed", "chmod", "ps", "df", "du", "sort")
STDLIB_OOD = ("argparse", "shlex", "textwrap", "csv", "json.decoder", "logging.handlers")


@settings
class WeakTeacherConfig:
    """Settings of `distill experiment weak-teacher`."""

    paths: tuple[str, ...] = doc("which paths to run: image, lm (or both)", default=("image", "lm"))
    quick: bool = doc("small budget (≤ 15 min on 2 idle cores for one seed): 10,000 training images, "
                      "fewer steps and a smaller loss-mix grid", default=False)
    seeds: tuple[int, ...] = doc("seeds; each trains its own teachers and students", default=(0,))
    kd_weights: tuple[float, ...] = doc("weights w of the distillation term, (1 − w)·CE + w·KD; 0 (the student "
                                        "alone, no teacher) is the baseline and must be listed",
                                        default=(0.0, 0.25, 0.75), ge=0, le=1)
    out: str = doc("output folder: results.json, results.md, gain.png, cells/ (finished grid cells), runs/",
                   default="runs/weak-teacher")
    # image path
    data_dir: str | None = doc("folder with MNIST-style IDX files (default: Debian's Fashion-MNIST)", default=None,
                               group="image path")
    mnist_dir: str | None = doc("folder with MNIST IDX files: its test split is the out-of-distribution set "
                                "(default: the test images shifted and rotated)", default=None, group="image path")
    image_teachers: tuple[str, ...] = doc("teacher MLPs' hidden widths, e.g. 16 or 512-512", default=("16", "512-512"),
                                          group="image path")
    image_teacher_epochs: tuple[int, ...] = doc("teacher training budgets in epochs (each with each size)",
                                                default=(1, 20), ge=1, group="image path")
    image_students: tuple[str, ...] = doc("student MLPs' hidden widths", default=("32", "256-256"), group="image path")
    image_student_epochs: int = doc("epochs of every student", default=20, ge=1, group="image path")
    image_train_subset: int = doc("teachers and students learn from a class-balanced subset of N training images "
                                  "(0: all)", default=0, ge=0, group="image path")
    image_temperatures: tuple[float, ...] = doc("temperatures T of the image students' distillation term (each "
                                                "with each w > 0)", default=(1.0, 4.0), gt=0, group="image path")
    image_lr: float = doc("peak learning rate (SGD, momentum 0.9, one-cycle) of teachers and students",
                          default=0.05, gt=0, group="image path")
    ood_shift: int = doc("out-of-distribution images: test images shifted by this many pixels right and down",
                         default=2, ge=1, group="image path")
    ood_rotate: float = doc("out-of-distribution images: test images rotated by this many degrees", default=15.0,
                            group="image path")
    # LM path
    lm_data: str | None = doc("in-domain text file (its last tenth held out; default: pydoc_data topics, every "
                              "tenth topic held out)", default=None, group="LM path")
    lm_ood_data: str | None = doc("out-of-domain text file (default: man pages, else stdlib sources)", default=None,
                                  group="LM path")
    lm_teachers: tuple[str, ...] = doc("teacher sizes as HIDDENxLAYERS", default=("32x1", "96x3"), group="LM path")
    lm_teacher_steps: tuple[int, ...] = doc("teacher training budgets in optimizer steps", default=(100, 1500), ge=1,
                                            group="LM path")
    lm_students: tuple[str, ...] = doc("student sizes as HIDDENxLAYERS", default=("32x2", "64x2"), group="LM path")
    lm_student_steps: int = doc("optimizer steps of every student", default=800, ge=1, group="LM path")
    lm_window: int = doc("tokens per window", default=128, ge=2, group="LM path")
    lm_batch_size: int = doc("windows per step", default=8, ge=1, group="LM path")
    lm_temperatures: tuple[float, ...] = doc("temperatures T of the LM students' distillation term (each with each "
                                             "w > 0)", default=(1.0, 2.0), gt=0, group="LM path")
    lm_lr: float = doc("peak learning rate (AdamW, warm-up, cosine decay)", default=3e-3, gt=0, group="LM path")
    lm_vocab: int = doc("BPE vocabulary size (byte-level: every byte is a token, merges on top)", default=384,
                        ge=260, group="LM path")
    lm_eval_windows: int = doc("held-out windows scored per domain", default=48, ge=1, group="LM path")

    def __post_init__(self):
        check(len(self.seeds) >= 1, "seeds", self.seeds, "at least one integer")
        check(set(self.paths) <= {"image", "lm"} and len(self.paths) >= 1, "paths", self.paths,
              "image, lm or both")
        check(0.0 in self.kd_weights and len(self.kd_weights) >= 2, "kd_weights", self.kd_weights,
              "0 (the baseline) and at least one weight > 0")
        for name in ("image_temperatures", "lm_temperatures"):
            check(len(getattr(self, name)) >= 1, name, getattr(self, name), "at least one temperature")
        for name in ("image_teachers", "image_students"):
            check(all(_widths(s) for s in getattr(self, name)), name, getattr(self, name),
                  "hidden widths such as 64 or 256-256")
        for name in ("lm_teachers", "lm_students"):
            check(all(_lm_size(s) for s in getattr(self, name)), name, getattr(self, name),
                  "sizes HIDDENxLAYERS, hidden a multiple of 16, e.g. 64x2")

    def resolved(self) -> "WeakTeacherConfig":
        """The quick-mode budget filled in (a no-op otherwise).

        Returns:
            A copy with the quick budget: 10,000 training images, 10 student epochs, teacher budgets of at most
            10 epochs / 400 steps, 200 student steps, and the first temperature only on the LM path.
        """
        if not self.quick:
            return self
        return replace(
            self,
            image_train_subset=self.image_train_subset or 10_000,
            image_student_epochs=min(self.image_student_epochs, 10),
            image_teacher_epochs=tuple(min(e, 10) for e in self.image_teacher_epochs),
            lm_teacher_steps=tuple(min(s, 400) for s in self.lm_teacher_steps),
            lm_student_steps=min(self.lm_student_steps, 200),
            lm_temperatures=self.lm_temperatures[:1],
        )


def _widths(spec: str) -> tuple[int, ...] | None:
    try:
        w = tuple(int(x) for x in spec.split("-"))
    except ValueError:
        return None
    return w if w and all(x > 0 for x in w) else None


def _lm_size(spec: str) -> tuple[int, int] | None:
    try:
        h, n = (int(x) for x in spec.lower().split("x"))
    except ValueError:
        return None
    return (h, n) if h >= 16 and h % 16 == 0 and 1 <= n <= 8 else None


def mixes(cfg: WeakTeacherConfig, path: str) -> list[tuple[float, float]]:
    """The loss mixes of a path's grid: (KD weight, temperature), the baseline (0, 0) first.

    Args:
        cfg: the resolved settings.
        path: "image" or "lm" (each has its temperatures).

    Returns:
        [(0.0, 0.0), (w, T) for each w > 0 and each of the path's T].
    """
    temps = cfg.image_temperatures if path == "image" else cfg.lm_temperatures
    return [(0.0, 0.0)] + [(w, T) for w in sorted(set(cfg.kd_weights)) if w > 0 for T in temps]


def _key(student: str, teacher: str | None, budget: int | None, w: float, T: float) -> str:
    if w == 0:
        return f"s{student}__alone"
    return f"s{student}__t{teacher}_b{budget}__w{w:g}_T{T:g}"


def _seed(*parts) -> int:
    h = 0
    for p in parts:
        for ch in str(p):
            h = (h * 1_000_003 + ord(ch)) % (2**31 - 1)
        h = (h * 31 + 7) % (2**31 - 1)
    return h


# ------------------------------------------------------------------ resumable cells


_NOT_STAMPED = ("out", "seeds")  # where results go, and which seeds: a rerun may add seeds


def stamp(cfg: WeakTeacherConfig) -> dict:
    """The settings a results folder is bound to: every resolved setting but ``out`` and ``seeds``.

    Args:
        cfg: the resolved settings.

    Returns:
        A JSON-plain dict.
    """
    return json.loads(json.dumps({k: v for k, v in to_dict(cfg).items() if k not in _NOT_STAMPED}))


def check_stamp(out: Path, cfg: WeakTeacherConfig) -> None:
    """Bind ``out`` to ``cfg``'s settings (first run), or refuse other settings than those it holds.

    Args:
        out: the results folder.
        cfg: the resolved settings.

    Raises:
        ValueError: ``out`` holds cells of a run with other settings; the message names each one.
    """
    path = out / "settings.json"
    now = stamp(cfg)
    if path.exists():
        old = json.loads(path.read_text())
        if old != now:
            differ = sorted(k for k in now.keys() | old.keys() if now.get(k) != old.get(k))
            changes = ", ".join(f"{k}: {old.get(k)!r} → {now.get(k)!r}" for k in differ)
            raise ValueError(f"{out} holds grid cells of a run with other settings ({changes}); rerun with those "
                             "settings to resume it, or use another --out (or delete it) to start afresh.")
        return
    atomic_json(path, now)


class _Cells:
    """Finished grid cells of one path and seed, one JSON file each, under OUT/cells/PATH/seedS/."""

    def __init__(self, out: Path, path: str, seed: int):
        self.folder = out / "cells" / path / f"seed{seed}"
        self.reused = 0

    def get(self, key: str) -> dict | None:
        f = self.folder / f"{key}.json"
        if f.exists():
            self.reused += 1
            return json.loads(f.read_text())
        return None

    def put(self, key: str, value: dict) -> dict:
        atomic_json(self.folder / f"{key}.json", value)
        return value


# ------------------------------------------------------------------ image path


def shift_images(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Each image moved ``pixels`` right and down, zero-filled (a fixed transform, the same on every call).

    Args:
        images: (N, H, W) float images.
        pixels: the shift, 0 < pixels < min(H, W).

    Returns:
        (N, H, W) shifted images.
    """
    out = torch.zeros_like(images)
    out[:, pixels:, pixels:] = images[:, :-pixels, :-pixels]
    return out


def rotate_images(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Each image rotated by ``degrees`` about its centre (bilinear, zero-filled; deterministic on the CPU).

    Args:
        images: (N, H, W) float images.
        degrees: the angle, counter-clockwise.

    Returns:
        (N, H, W) rotated images, same dtype.
    """
    import torch.nn.functional as F

    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], dtype=torch.float32)
    x = images.float()[:, None]  # (N, 1, H, W)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0].to(images.dtype)


def ood_sets(cfg: WeakTeacherConfig, test) -> dict:
    """The out-of-distribution test sets: MNIST's test split with ``--mnist-dir``, else shifted and rotated test images.

    Args:
        cfg: the resolved settings.
        test: the in-distribution test split (``ImageSplit``).

    Returns:
        name → ``ImageSplit``.
    """
    from distill.data.idx import ImageSplit, load_idx_dataset

    if cfg.mnist_dir:
        _, mnist_test, _ = load_idx_dataset(cfg.mnist_dir)
        if mnist_test.images.shape[1:] != test.images.shape[1:]:
            raise ValueError(f"--mnist-dir {cfg.mnist_dir} holds {tuple(mnist_test.images.shape[1:])} images; the "
                             f"training images are {tuple(test.images.shape[1:])}.")
        return {"mnist": mnist_test}
    return {f"shift{cfg.ood_shift}px": ImageSplit(shift_images(test.images, cfg.ood_shift), test.labels),
            f"rotate{cfg.ood_rotate:g}deg": ImageSplit(rotate_images(test.images, cfg.ood_rotate), test.labels)}


def build_mlp(spec: str, in_features: int, seed: int):
    """A ReLU MLP of hidden widths ``spec`` (e.g. "256-256"), initialized from ``seed`` alone.

    Args:
        spec: hidden widths joined by "-".
        in_features: H·W of the images.
        seed: the initialization seed.

    Returns:
        The ``distill.models.classifiers.MLP``.
    """
    from distill.models.classifiers import MLP

    torch.manual_seed(seed)
    return MLP(in_features=in_features, hidden=_widths(spec), num_classes=10)


def _accuracy(model, split) -> float:
    from distill.train.classifier import count_errors, predict

    logits = predict(model, split.images, desc="eval")
    return 100.0 * (1 - count_errors(logits, split.labels) / len(split.labels))


def _scores(model, test, ood: dict) -> dict:
    per = {name: _accuracy(model, s) for name, s in ood.items()}
    return {"in": _accuracy(model, test), "ood": statistics.fmean(per.values()), "ood_sets": per}


def image_optim(cfg: WeakTeacherConfig, epochs: int, seed: int, n: int):
    """Optimizer settings of every image model (teachers and students alike; only targets and budgets differ).

    Args:
        cfg: the resolved settings.
        epochs: the budget.
        seed: the model's seed (data order).
        n: rows of the transfer set (the batch is at most a tenth of it).

    Returns:
        The ``OptimConfig``.
    """
    from distill.train.classifier import OptimConfig

    return OptimConfig(epochs=epochs, batch_size=min(100, max(1, n // 10)), lr=cfg.image_lr, seed=seed)


def image_student(cfg: WeakTeacherConfig, size: str, seed: int, train, targets, run_dir: Path | None):
    """Train one image student (hard labels when ``targets`` is None), from the (size, seed) initialization.

    Args:
        cfg: the resolved settings.
        size: the student's hidden widths.
        seed: the grid seed.
        train: the transfer set (``ImageSplit``).
        targets: ``Targets`` (teacher logits, T, CE weight 1 − w) or None for the student alone.
        run_dir: its run folder (resumable checkpoints), or None.

    Returns:
        The trained model.
    """
    from distill.train.classifier import fit

    in_features = train.images.shape[1] * train.images.shape[2]
    model = build_mlp(size, in_features, _seed("image student", size, seed))
    fit(model, train.images, train.labels, image_optim(cfg, cfg.image_student_epochs, _seed("order", seed),
                                                       len(train.labels)),
        targets, run_dir=run_dir, desc=f"student {size}")
    return model


def run_image(cfg: WeakTeacherConfig, seed: int, out: Path, data=None) -> dict:
    """The image path's grid for one seed: teachers, the students alone, the distilled students.

    Args:
        cfg: the resolved settings.
        seed: the seed.
        out: the results folder (cells and run folders go under it).
        data: (train, test) ``ImageSplit`` pair to use instead of loading ``cfg.data_dir`` (tests).

    Returns:
        {"dataset", "teachers": [...], "cells": [...], "reused", "seconds", "cpu_seconds"}.
    """
    from distill.data.idx import ImageSplit, load_idx_dataset
    from distill.experiments.hinton import class_balanced_subset
    from distill.train.classifier import Targets, fit, predict

    t0, c0 = time.time(), time.process_time()
    if data is None:
        train, test, name = load_idx_dataset(cfg.data_dir)
    else:
        (train, test), name = data, "given"
    if cfg.image_train_subset and cfg.image_train_subset < len(train.labels):
        rows = class_balanced_subset(train.labels, cfg.image_train_subset)
        train = ImageSplit(train.images[rows], train.labels[rows])
    ood = ood_sets(cfg, test)
    cells = _Cells(out, "image", seed)
    runs = out / "runs" / "image" / f"seed{seed}"
    in_features = train.images.shape[1] * train.images.shape[2]
    res_cells = []
    for size in cfg.image_students:
        key = _key(size, None, None, 0, 0)
        cell = cells.get(key)
        if cell is None:
            model = image_student(cfg, size, seed, train, None, runs / key)
            cell = cells.put(key, {"student": size, "teacher": None, "budget": None, "kd_weight": 0.0,
                                   "temperature": None, **_scores(model, test, ood)})
        res_cells.append(cell)
    teachers = []
    for t_size in cfg.image_teachers:
        for budget in cfg.image_teacher_epochs:
            t_key = f"teacher_{t_size}_b{budget}"
            keys = [(s, w, T) for s in cfg.image_students for w, T in mixes(cfg, "image")[1:]]
            done = {(s, w, T): cells.get(_key(s, t_size, budget, w, T)) for s, w, T in keys}
            info = cells.get(t_key)
            logits = None
            if info is None or any(v is None for v in done.values()):
                model = build_mlp(t_size, in_features, _seed("image teacher", t_size, budget, seed))
                fit(model, train.images, train.labels, image_optim(cfg, budget, _seed("teacher order", seed),
                                                                   len(train.labels)),
                    run_dir=runs / t_key, desc=f"teacher {t_size}, {budget} epochs")
                logits = predict(model, train.images, desc="teacher")
                if info is None:
                    info = cells.put(t_key, {"size": t_size, "budget": budget, **_scores(model, test, ood)})
            teachers.append(info)
            for (s, w, T), cell in done.items():
                if cell is None:
                    key = _key(s, t_size, budget, w, T)
                    targets = Targets(logits=logits, temperature=T, ce_weight=1 - w)
                    model = image_student(cfg, s, seed, train, targets, runs / key)
                    cell = cells.put(key, {"student": s, "teacher": t_size, "budget": budget, "kd_weight": w,
                                           "temperature": T, **_scores(model, test, ood)})
                res_cells.append(cell)
    return {"dataset": name, "ood_sets": sorted(ood), "teachers": teachers, "cells": res_cells,
            "reused": cells.reused, "seconds": round(time.time() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1)}


# ------------------------------------------------------------------ LM path


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character map, which the byte-level pre-tokenizer spells tokens in."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def token_bytes(tokenizer) -> torch.Tensor:
    """UTF-8 bytes each token of a byte-level BPE tokenizer stands for; special tokens count as 1 (a separator).

    Args:
        tokenizer: a ``PreTrainedTokenizerFast`` with a ByteLevel pre-tokenizer (as `make_tokenizer` builds).

    Returns:
        (V,) int64 byte counts, V = len(tokenizer).

    Raises:
        ValueError: a token is spelled in characters outside the byte-level alphabet (not a byte-level tokenizer).
    """
    decoder = {c: b for b, c in _bytes_to_unicode().items()}
    special = set(tokenizer.all_special_ids)
    out = torch.ones(len(tokenizer), dtype=torch.long)
    for tok, i in tokenizer.get_vocab().items():
        if i in special:
            continue
        if any(c not in decoder for c in tok):
            raise ValueError(f"token {tok!r} is not spelled in byte-level characters; bits per byte need a "
                             "byte-level tokenizer.")
        out[i] = len(tok)
    return out


def bits_and_bytes(logits: torch.Tensor, ids: torch.Tensor, nbytes: torch.Tensor) -> tuple[float, int]:
    """Total code length in bits of the next tokens of ``ids``, and the bytes they stand for.

    Position t's logits predict token t + 1; the first token of each window is given, not coded.

    Args:
        logits: (B, L, V') logits, V' ≥ V (columns beyond V are dropped).
        ids: (B, L) token ids < V.
        nbytes: (V,) bytes per token (`token_bytes`).

    Returns:
        (bits, bytes): Σ −log₂ p(token) over the B·(L − 1) predicted tokens, and Σ of their byte counts.
    """
    V = len(nbytes)
    logp = logits[:, :-1, :V].float().log_softmax(-1)  # (B, L−1, V)
    y = ids[:, 1:]
    nats = -logp.gather(-1, y[..., None]).sum().item()
    return nats / math.log(2), int(nbytes[y].sum())


@torch.no_grad()
def bits_per_byte(model, windows: torch.Tensor, nbytes: torch.Tensor, batch_size: int = 16) -> float:
    """A causal LM's bits per byte on held-out windows: total bits of the predicted tokens over their bytes.

    Args:
        model: an HF causal LM (``model(ids).logits``).
        windows: (n, L) token ids.
        nbytes: (V,) bytes per token (`token_bytes`).
        batch_size: windows per forward pass.

    Returns:
        Bits per byte (a model uniform over 256 one-byte tokens scores 8).
    """
    was = model.training
    model.eval()
    bits, nb = 0.0, 0
    for b in range(0, len(windows), batch_size):
        ids = windows[b : b + batch_size]
        bi, by = bits_and_bytes(model(ids, use_cache=False).logits, ids, nbytes)
        bits, nb = bits + bi, nb + by
    model.train(was)
    return bits / nb


def make_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on ``texts`` (every byte is a token; merges up to ``vocab_size``).

    Args:
        texts: the training text.
        vocab_size: the vocabulary size, special tokens included.

    Returns:
        A ``PreTrainedTokenizerFast`` with <unk>, <s> and </s> (EOS).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def make_llama(path: Path, tokenizer, size: str, window: int, seed: int) -> Path:
    """Save an untrained tiny Llama of ``size`` (HIDDENxLAYERS; heads of 16 dims, tied embeddings) with the tokenizer.

    Args:
        path: the HF folder to write.
        tokenizer: the tokenizer (saved beside the model; sets the vocabulary size).
        size: e.g. "64x2".
        window: the longest sequence (max_position_embeddings).
        seed: the initialization seed.

    Returns:
        ``path``.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    h, n = _lm_size(size)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=h, intermediate_size=4 * h, num_hidden_layers=n,
                      num_attention_heads=h // 16, num_key_value_heads=h // 16, max_position_embeddings=window,
                      tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _man_text() -> str | None:
    import os
    import re

    texts = []
    env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8", MAN_KEEP_FORMATTING="")
    for page in MAN_PAGES:
        try:
            r = subprocess.run(["man", "-P", "cat", "1", page], capture_output=True, text=True, env=env, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if r.returncode == 0 and r.stdout.strip():
            texts.append(re.sub(r".\x08", "", r.stdout))
    return "\n\n".join(texts) if texts else None


def _stdlib_text() -> str:
    import importlib

    return "\n\n".join(Path(importlib.import_module(m).__file__).read_text(encoding="utf-8") for m in STDLIB_OOD)


def lm_corpora(cfg: WeakTeacherConfig, folder: Path) -> dict:
    """Write the LM path's text: train.txt and heldout.txt (in domain) and ood.txt (out of domain).

    Args:
        cfg: the resolved settings.
        folder: where to write them.

    Returns:
        {"train", "heldout", "ood": paths; "in_domain", "out_of_domain": what they hold}.
    """
    from distill.lm.quickstart import pydoc_corpus

    folder.mkdir(parents=True, exist_ok=True)
    if cfg.lm_data:
        text = Path(cfg.lm_data).read_text(encoding="utf-8")
        cut = len(text) * 9 // 10
        atomic_text(folder / "train.txt", text[:cut])
        atomic_text(folder / "heldout.txt", text[cut:])
        in_domain = f"{cfg.lm_data} (last tenth held out)"
    else:
        pydoc_corpus(folder)
        in_domain = "pydoc_data.topics (every tenth topic held out)"
    if cfg.lm_ood_data:
        ood, what = Path(cfg.lm_ood_data).read_text(encoding="utf-8"), cfg.lm_ood_data
    else:
        ood = _man_text()
        what = f"man pages ({', '.join(MAN_PAGES)})"
        if ood is None:
            ood, what = _stdlib_text(), f"stdlib sources ({', '.join(STDLIB_OOD)})"
    atomic_text(folder / "ood.txt", ood)
    return {"train": folder / "train.txt", "heldout": folder / "heldout.txt", "ood": folder / "ood.txt",
            "in_domain": in_domain, "out_of_domain": what}


def _lm_train_cfg(cfg: WeakTeacherConfig, init: Path, data: Path, steps: int, seed: int, out: Path, **loss):
    from distill.lm.train import LMTrainConfig

    return LMTrainConfig(student=str(init), data=str(data), window=cfg.lm_window, batch_size=cfg.lm_batch_size,
                         steps=steps, lr=cfg.lm_lr, warmup=max(1, steps // 10), seed=seed, checkpoint_every=0,
                         tensorboard=False, out=str(out), chunk_size=cfg.lm_window * cfg.lm_batch_size, **loss)


def lm_student_cfg(cfg: WeakTeacherConfig, init: Path, data: Path, seed: int, out: Path, teacher: str | None,
                   w: float, T: float):
    """`distill lm train` settings of one LM student: CE alone for w = 0, else (1 − w)·CE + w·forward KL at T.

    Args:
        cfg: the resolved settings.
        init: the student's untrained HF folder.
        data: the training text.
        seed: the data-order seed.
        out: the run folder.
        teacher: the trained teacher's HF folder (ignored for w = 0).
        w: the KD weight.
        T: the temperature.

    Returns:
        The ``LMTrainConfig``.
    """
    if w == 0:
        return _lm_train_cfg(cfg, init, data, cfg.lm_student_steps, seed, out, loss="ce")
    return _lm_train_cfg(cfg, init, data, cfg.lm_student_steps, seed, out, loss="forward_kl", teacher=teacher,
                         ce_weight=1 - w, temperature=T)


def run_lm(cfg: WeakTeacherConfig, seed: int, out: Path) -> dict:
    """The LM path's grid for one seed: tokenizer, teachers (CE), the students alone, the distilled students.

    Args:
        cfg: the resolved settings.
        seed: the seed.
        out: the results folder.

    Returns:
        {"corpora", "teachers": [...], "cells": [...], "reused", "seconds", "cpu_seconds"}.
    """
    from transformers import PreTrainedTokenizerFast

    from distill.lm.corpus import pack_windows
    from distill.lm.models import load_model
    from distill.lm.train import run as lm_train

    t0, c0 = time.time(), time.process_time()
    root = out / "runs" / "lm"
    corpora = lm_corpora(cfg, root / "corpus")
    tok_dir = root / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        make_tokenizer([corpora["train"].read_text(encoding="utf-8")], cfg.lm_vocab).save_pretrained(tok_dir)
    tok = PreTrainedTokenizerFast.from_pretrained(str(tok_dir))
    nbytes = token_bytes(tok)
    held = {name: pack_windows(corpora[f], tok, cfg.lm_window, cfg.lm_eval_windows)
            for name, f in (("in", "heldout"), ("ood", "ood"))}
    runs = root / f"seed{seed}"
    cells = _Cells(out, "lm", seed)

    def init(kind: str, size: str) -> Path:
        path = runs / "init" / f"{kind}-{size}"
        if not (path / "config.json").exists():
            make_llama(path, tok, size, cfg.lm_window, _seed("lm", kind, size, seed))
        return path

    def score(model_dir: Path) -> dict:
        model = load_model(str(model_dir))
        return {name: bits_per_byte(model, w, nbytes) for name, w in held.items()}

    res_cells = []
    for size in cfg.lm_students:
        key = _key(size, None, None, 0, 0)
        cell = cells.get(key)
        if cell is None:
            tcfg = lm_student_cfg(cfg, init("student", size), corpora["train"], seed, runs / key, None, 0, 0)
            lm_train(tcfg)
            cell = cells.put(key, {"student": size, "teacher": None, "budget": None, "kd_weight": 0.0,
                                   "temperature": None, **score(runs / key / "model")})
        res_cells.append(cell)
    teachers = []
    for t_size in cfg.lm_teachers:
        for budget in cfg.lm_teacher_steps:
            t_key = f"teacher_{t_size}_b{budget}"
            t_dir = runs / t_key
            keys = [(s, w, T) for s in cfg.lm_students for w, T in mixes(cfg, "lm")[1:]]
            done = {k: cells.get(_key(k[0], t_size, budget, k[1], k[2])) for k in keys}
            info = cells.get(t_key)
            if info is None or any(v is None for v in done.values()):
                lm_train(_lm_train_cfg(cfg, init("teacher", t_size), corpora["train"], budget, _seed("t", seed),
                                       t_dir, loss="ce"))
                if info is None:
                    info = cells.put(t_key, {"size": t_size, "budget": budget, **score(t_dir / "model")})
            teachers.append(info)
            for (s, w, T), cell in done.items():
                if cell is None:
                    key = _key(s, t_size, budget, w, T)
                    lm_train(lm_student_cfg(cfg, init("student", s), corpora["train"], seed, runs / key,
                                            str(t_dir / "model"), w, T))
                    cell = cells.put(key, {"student": s, "teacher": t_size, "budget": budget, "kd_weight": w,
                                           "temperature": T, **score(runs / key / "model")})
                res_cells.append(cell)
    return {"corpora": {"in_domain": corpora["in_domain"], "out_of_domain": corpora["out_of_domain"]},
            "vocab_size": len(tok), "teachers": teachers, "cells": res_cells, "reused": cells.reused,
            "seconds": round(time.time() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1)}


# ------------------------------------------------------------------ aggregation and report


HIGHER_IS_BETTER = {"image": True, "lm": False}
UNITS = {"image": "accuracy, %", "lm": "bits per byte"}


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate_path(path: str, per_seed: list[dict]) -> dict:
    """Means over seeds of every cell, teacher and gain; gain = improvement over the same student alone.

    Gains are positive when the distilled student is better: accuracy points (image) or bits per byte saved (LM).

    Args:
        path: "image" or "lm".
        per_seed: `run_image` / `run_lm` results, one per seed, same grid.

    Returns:
        {"teachers": [...], "cells": [...], each with ``in``/``ood`` (mean), ``*_std`` and gains ``gain_in``,
        ``gain_ood`` (mean, ``*_std``) for distilled cells; "claims"; seconds and CPU seconds per seed}.
    """
    sign = 1.0 if HIGHER_IS_BETTER[path] else -1.0

    def key(c):
        return (c["student"], c["teacher"], c["budget"], c["kd_weight"], c["temperature"])

    by_key: dict = {}
    for run in per_seed:
        base = {c["student"]: c for c in run["cells"] if c["kd_weight"] == 0}
        for c in run["cells"]:
            e = by_key.setdefault(key(c), {"in": [], "ood": [], "gain_in": [], "gain_ood": []})
            e["in"].append(c["in"])
            e["ood"].append(c["ood"])
            if c["kd_weight"] > 0:
                b = base[c["student"]]
                e["gain_in"].append(sign * (c["in"] - b["in"]))
                e["gain_ood"].append(sign * (c["ood"] - b["ood"]))
    cells = []
    for k, e in by_key.items():
        c = dict(zip(("student", "teacher", "budget", "kd_weight", "temperature"), k, strict=True))
        for m in ("in", "ood", "gain_in", "gain_ood"):
            if e[m]:
                c[m], c[f"{m}_std"] = _ms(e[m])
        c["seeds"] = len(e["in"])
        cells.append(c)
    teachers = []
    for i, t in enumerate(per_seed[0]["teachers"]):
        vals = [r["teachers"][i] for r in per_seed]
        row = {"size": t["size"], "budget": t["budget"]}
        for m in ("in", "ood"):
            row[m], row[f"{m}_std"] = _ms([v[m] for v in vals])
        teachers.append(row)
    res = {"teachers": teachers, "cells": cells, "seeds": len(per_seed),
           "seconds_per_seed": [r["seconds"] for r in per_seed],
           "cpu_seconds_per_seed": [r["cpu_seconds"] for r in per_seed],
           "reused_cells": sum(r["reused"] for r in per_seed)}
    for k in ("dataset", "ood_sets", "corpora", "vocab_size"):
        if k in per_seed[0]:
            res[k] = per_seed[0][k]
    res["claims"] = claims(path, res)
    return res


def _strength(path: str, t: dict) -> float:
    """A teacher's strength: its in-distribution accuracy, or minus its bits per byte (higher is stronger)."""
    return t["in"] if HIGHER_IS_BETTER[path] else -t["in"]


def best_gains(path: str, agg: dict) -> dict:
    """Per (student, teacher, budget): the distilled cell with the largest in-distribution mean gain over its mixes.

    The mix is chosen on the test figures themselves (no validation split), so this is an optimistic reading;
    the report also gives the mean over mixes.

    Args:
        path: "image" or "lm".
        agg: an `aggregate_path` result (without claims is fine).

    Returns:
        (student, teacher, budget) → the best cell, with ``mean_gain_in`` / ``mean_gain_ood`` over its mixes added.
    """
    groups: dict = {}
    for c in agg["cells"]:
        if c["kd_weight"] > 0:
            groups.setdefault((c["student"], c["teacher"], c["budget"]), []).append(c)
    out = {}
    for k, cs in groups.items():
        best = dict(max(cs, key=lambda c: c["gain_in"]))
        best["mean_gain_in"] = statistics.fmean(c["gain_in"] for c in cs)
        best["mean_gain_ood"] = statistics.fmean(c["gain_ood"] for c in cs)
        out[k] = best
    return out


def _params(path: str, size: str) -> int:
    if path == "image":
        return sum(_widths(size))
    h, n = _lm_size(size)
    return h * h * n


def _clear(agg: dict, c: dict, metric: str) -> bool:
    """A gain that counts: positive, and with several seeds more than twice its seed-to-seed spread."""
    return c[metric] > 0 and (agg["seeds"] == 1 or c[metric] > 2 * c.get(f"{metric}_std", 0.0))


def claims(path: str, agg: dict) -> dict:
    """The paper's three claims, checked on this grid (each: whether it is seen, and the figures behind it).

    A gain counts when it is positive and, with several seeds, more than twice its seed-to-seed spread.

    * weak teacher helps: some teacher *weaker than the student trained alone* (worse in distribution) still
      gives that student a gain in distribution at its best mix; the detail also gives the weakest teacher
      (smallest, shortest budget) → largest student;
    * strong teacher saturates: for some student, a weaker teacher gives a gain that counts and the strongest
      teacher's best gain is no larger (the gain does not grow all the way with teacher strength);
    * larger out of distribution: the mean out-of-distribution gain over all distilled cells is positive and
      exceeds the in-distribution one (same units: accuracy points, or bits per byte).

    Args:
        path: "image" or "lm".
        agg: an `aggregate_path` result.

    Returns:
        claim name → {"seen": bool, "detail": str}.
    """
    best = best_gains(path, agg)
    teachers = agg["teachers"]
    alone = {c["student"]: c for c in agg["cells"] if c["kd_weight"] == 0}
    weakest = min(teachers, key=lambda t: (_params(path, t["size"]), t["budget"]))
    strongest = max(teachers, key=lambda t: _strength(path, t))
    students = sorted(alone, key=lambda s: _params(path, s))
    big = students[-1]

    def said(c):
        spread = f" ± {c['gain_in_std']:.2g}" if agg["seeds"] > 1 else ""
        return (f"{c['gain_in']:+.3g}{spread} in distribution, {c['gain_ood']:+.3g} out (w = {c['kd_weight']:g}, "
                f"T = {c['temperature']:g})")

    weaker = [(s, t) for s in students for t in teachers if _strength(path, t) < _strength(path, alone[s])]
    helped = sorted((best[(s, t["size"], t["budget"])] for s, t in weaker), key=lambda c: -c["gain_in"])
    helped = [c for c in helped if _clear(agg, c, "gain_in")]
    b = best[(big, weakest["size"], weakest["budget"])]
    detail = (f"{len(helped)} of {len(weaker)} (student, teacher weaker than that student alone) pairs gain"
              + (f"; best: teacher {helped[0]['teacher']}/{helped[0]['budget']} → student {helped[0]['student']}: "
                 f"{said(helped[0])}" if helped else "")
              + f"; weakest teacher ({weakest['size']}/{weakest['budget']}) → student {big}: {said(b)}")
    out = {"weak_teacher_helps": {"seen": bool(helped), "detail": detail}}
    sat = []
    for s in students:
        g_strong = best[(s, strongest["size"], strongest["budget"])]["gain_in"]
        others = [best[(s, t["size"], t["budget"])] for t in teachers if t is not strongest]
        top = max(others, key=lambda c: c["gain_in"]) if others else None
        sat.append((s, g_strong, top["gain_in"] if top else None, top is not None and _clear(agg, top, "gain_in")))
    out["strong_teacher_saturates"] = {
        "seen": any(clear and g <= w for _, g, w, clear in sat),
        "detail": "; ".join(f"student {s}: strongest teacher ({strongest['size']}/{strongest['budget']}) "
                            f"{g:+.3g} vs best weaker " + (f"{w:+.3g}" if w is not None else "(none: one teacher)")
                            + ("" if clear or w is None else " (not a gain that counts)")
                            for s, g, w, clear in sat)}
    kd = [c for c in agg["cells"] if c["kd_weight"] > 0]
    gi, go = statistics.fmean(c["gain_in"] for c in kd), statistics.fmean(c["gain_ood"] for c in kd)
    out["gain_larger_ood"] = {"seen": go > 0 and go > gi,
                              "detail": f"mean gain over all {len(kd)} distilled cells: {gi:+.3g} in distribution, "
                                        f"{go:+.3g} out"}
    return out


def _f(v: float, s: float | None, seeds: int, digits: int) -> str:
    return f"{v:.{digits}f}" + (f" ± {s:.{digits}f}" if seeds > 1 and s is not None else "")


def markdown(res: dict) -> str:
    """The report: per path, teachers, the grid of gains, and the paper's claims beside what was measured.

    Args:
        res: a `run` result.

    Returns:
        Markdown text.
    """
    lines = [f"# Weak teachers: {res['mode']} mode, seeds {res['seeds']}", "",
             f"Paper: {PAPER}. Gain = the distilled student's improvement over the same student trained alone "
             "(KD weight 0), same seed and initialization; mean ± std over seeds.", ""]
    for path in ("image", "lm"):
        if path not in res["paths"]:
            continue
        agg = res["paths"][path]
        n, d = agg["seeds"], (2 if path == "image" else 3)
        if path == "image":
            what = (f"## Image path: {agg['dataset']} MLPs, out of distribution = {', '.join(agg['ood_sets'])} "
                    "(accuracy %, gain in accuracy points)")
        else:
            what = (f"## LM path: tiny Llama, byte-level BPE ({agg['vocab_size']} tokens); in domain "
                    f"{agg['corpora']['in_domain']}, out of domain {agg['corpora']['out_of_domain']} "
                    "(bits per byte, gain = bits per byte saved)")
        unit = "epochs" if path == "image" else "steps"
        lines += [what, "", f"Time per seed: {agg['seconds_per_seed']} s wall, {agg['cpu_seconds_per_seed']} s CPU"
                  + (f" ({agg['reused_cells']} cells reused from an earlier run)" if agg["reused_cells"] else ""), "",
                  f"| teacher | budget ({unit}) | in | out |", "|---|---|---|---|"]
        lines += [f"| {t['size']} | {t['budget']} | {_f(t['in'], t['in_std'], n, d)} | {_f(t['ood'], t['ood_std'], n, d)} |"
                  for t in agg["teachers"]]
        lines += ["", "| student | teacher | budget | w | T | in | out | gain in | gain out |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for c in agg["cells"]:
            if c["kd_weight"] == 0:
                lines.append(f"| {c['student']} | alone | | 0 | | {_f(c['in'], c['in_std'], n, d)} | "
                             f"{_f(c['ood'], c['ood_std'], n, d)} | | |")
            else:
                lines.append(f"| {c['student']} | {c['teacher']} | {c['budget']} | {c['kd_weight']:g} | "
                             f"{c['temperature']:g} | {_f(c['in'], c['in_std'], n, d)} | "
                             f"{_f(c['ood'], c['ood_std'], n, d)} | {_f(c['gain_in'], c['gain_in_std'], n, d)} | "
                             f"{_f(c['gain_ood'], c['gain_ood_std'], n, d)} |")
        lines += ["", "| paper's claim | seen here? | figures |", "|---|---|---|"]
        seen = {True: "yes" + (" (1 seed: no spread to weigh it against)" if n == 1 else ""), False: "no"}
        lines += [f"| {CLAIMS[k]} | {seen[v['seen']]} | {v['detail']} |" for k, v in agg["claims"].items()]
        lines += ["", "Best mix per (student, teacher) is chosen on the test figures themselves (no validation split): "
                  "an optimistic reading; the grid above has every mix.", ""]
    lines.append(f"Total: {res['seconds']:.0f} s wall, {res['cpu_seconds']:.0f} s CPU (this invocation).")
    return "\n".join(lines) + "\n"


def figure(res: dict):
    """Gain over the student alone vs teacher strength, per student size: best mix (solid) and mean over mixes
    (dashed), in and out of distribution, one row per path.

    Args:
        res: a `run` result.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    from distill.plotting import legend_below, wrap

    paths = [p for p in ("image", "lm") if p in res["paths"]]
    fig = Figure(figsize=(11, 4.6 * len(paths)), dpi=110, layout="constrained")
    axes = fig.subplots(len(paths), 2, squeeze=False)
    for r, path in enumerate(paths):
        agg = res["paths"][path]
        best = best_gains(path, agg)
        teachers = sorted(agg["teachers"], key=lambda t: _strength(path, t))
        x = [t["in"] for t in teachers]
        students = sorted({c["student"] for c in agg["cells"]}, key=lambda s: _params(path, s))
        for col, where in enumerate(("in", "ood")):
            ax = axes[r, col]
            for i, s in enumerate(students):
                color = f"C{i}"
                cells = [best[(s, t["size"], t["budget"])] for t in teachers]
                ax.plot(x, [c[f"gain_{where}"] for c in cells], "o-", color=color, label=f"student {s}, best mix")
                ax.plot(x, [c[f"mean_gain_{where}"] for c in cells], "s--", color=color, alpha=0.6,
                        label=f"student {s}, mean over mixes")
            for t, xv in zip(teachers, x, strict=True):
                ax.annotate(f"teacher {t['size']}/{t['budget']}", (xv, 0), xycoords=("data", "axes fraction"),
                            textcoords="offset points", xytext=(2, 4), rotation=90, fontsize=7, color="0.4")
            ax.axhline(0, color="0.5", lw=0.8)
            if path == "lm":
                ax.invert_xaxis()
            ax.set_xlabel("teacher in-distribution accuracy, %" if path == "image"
                          else "teacher in-domain bits per byte (stronger →)")
            ax.set_ylabel("gain in accuracy points" if path == "image" else "bits per byte saved")
            ax.set_title(wrap(f"{path}: gain over the student alone, "
                              f"{'in distribution' if where == 'in' else 'out of distribution'}", 60))
            legend_below(ax, columns=2)
    return fig


class WeakTeacherResult(Result):
    """What `distill experiment weak-teacher` returns (``results.json``); its summary is ``results.md``."""

    mode: str
    seeds: list
    paths: dict
    seconds: float
    cpu_seconds: float
    config: dict


def run(cfg: WeakTeacherConfig, *, image_data=None) -> WeakTeacherResult:
    """Run the grid on the chosen paths for every seed; write results.json, results.md and gain.png to ``cfg.out``.

    Args:
        cfg: the settings.
        image_data: (train, test) ``ImageSplit`` pair instead of the IDX folder (tests).

    Returns:
        The result: per path the aggregated grid (`aggregate_path`) and the per-seed cells.

    Raises:
        ValueError: ``cfg.out`` holds cells of a run with other settings.
    """
    t0, c0 = time.time(), time.process_time()
    cfg = cfg.resolved()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    check_stamp(out, cfg)
    paths = {}
    for path in ("image", "lm"):
        if path not in cfg.paths:
            continue
        per_seed = []
        for seed in bar(cfg.seeds, desc=f"{path} seeds", unit="seed"):
            per_seed.append(run_image(cfg, seed, out, image_data) if path == "image" else run_lm(cfg, seed, out))
        paths[path] = aggregate_path(path, per_seed) | {"per_seed": per_seed}
    res = {"mode": "quick" if cfg.quick else "full", "seeds": list(cfg.seeds), "paths": paths,
           "seconds": round(time.time() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1),
           "config": to_dict(cfg)}
    res = WeakTeacherResult(res, report=markdown(res))
    write_results(out, res)
    figure(res).savefig(out / "gain.png")
    return res

"""Distilled diffusion by block removal (BK-SDM; SD-Small / SD-Tiny), on Fashion-MNIST.

Protocol:
  * teacher: a class-conditional ``diffusers.UNet2DModel`` trained here with the DDPM denoising loss
    (predict the added noise ε at a uniformly drawn timestep);
  * students: the teacher with blocks removed, BK-SDM style: fewer residual layers in every down and up
    block (``student_layers``) and, by default, no mid block (its residual and attention layers); each
    kept layer is initialised from the teacher's matching one (same block, same shapes, in order);
  * the students are trained at equal steps, batch, learning rate and seed:
      scratch   random initialisation, denoising loss only (the block-removed net trained alone);
      init      teacher initialisation, denoising loss only;
      output    teacher initialisation, denoising + output KD (MSE to the teacher's ε prediction);
      feature   teacher initialisation, denoising + output KD + per-block feature KD (MSE between the
                outputs of each down, mid and up block of student and teacher, collected by forward hooks);
  * evaluation, on DDIM samples (η = 0, the same initial noise and class labels for every model): the
    Fréchet distance in the features of the packaged Fashion-MNIST CNN (its 256-wide dense layer) to the
    teacher's samples and to real test images, that classifier's accuracy on the class-conditional
    samples, the pixel RMSE to the teacher's sample from the same noise, CPU sampling latency at batch 1
    and 64 (same DDIM steps), and parameter counts.
``dataset="digits"`` runs the same protocol on scikit-learn's 8×8 digits (upsampled to 28×28 for the
Fashion-MNIST CNN, so its numbers only exercise the machinery): that is what the tests run.
"""

from __future__ import annotations

import io
import logging
import math
import statistics
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from distill.config import check, doc, settings, to_dict
from distill.files import atomic_bytes, atomic_json, write_results
from distill.losses import feature_kd
from distill.progress import bar as progress_bar
from distill.results import Result
from distill.train import loop
from distill.train.classifier import _HintTaps, _step_seed, load_classifier
from distill.train.loop import LoopSpec

log = logging.getLogger(__name__)

STUDENTS = ("scratch", "init", "output", "feature")
_INSTALL = "pip install 'distill[diffusion]'  (or: pip install diffusers)"


@settings
class DiffusionConfig:
    """Settings of `distill experiment diffusion`."""

    dataset: Literal["fashion-mnist", "digits"] = doc(
        "fashion-mnist (IDX files, see --data-dir) or digits (scikit-learn's 8×8 digits, for tests)",
        default="fashion-mnist")
    data_dir: str | None = doc("folder with MNIST-style IDX files (default: Debian's Fashion-MNIST)", default=None)
    quick: bool = doc("small budget (≤ 15 min on 2 cores): fewer steps and samples, one seed", default=False)
    seeds: tuple[int, ...] = doc("seeds; each trains its own teacher and students", default=(0,))
    image_size: int = doc("resize images to this side before training (antialiased; 0: native 28×28); the CNN "
                          "sees every image, real or sampled, resized back to 28×28", default=0, ge=0)
    channels: tuple[int, ...] = doc("teacher U-Net: output channels of each down block", default=(32, 64, 64), ge=8)
    layers_per_block: int = doc("teacher U-Net: residual layers per down block (up blocks have one more)",
                                default=2, ge=1)
    student_layers: int = doc("student: residual layers kept per down block (up blocks keep one more)",
                              default=1, ge=1)
    student_mid_block: bool = doc("student: keep the mid block (BK-SDM removes it)", default=False)
    students: tuple[str, ...] = doc(f"students to train, of {', '.join(STUDENTS)}", default=STUDENTS)
    teacher_steps: int = doc("teacher optimizer steps", default=12000, ge=1)
    student_steps: int = doc("optimizer steps of every student (equal steps)", default=4000, ge=1)
    batch_size: int = doc("images per step", default=64, ge=1)
    lr: float = doc("peak AdamW learning rate (5% warm-up, cosine decay), teacher and students", default=2e-3, gt=0)
    train_timesteps: int = doc("DDPM training timesteps", default=1000, ge=10)
    output_weight: float = doc("weight of the output KD term (MSE to the teacher's ε)", default=1.0, ge=0)
    feature_weight: float = doc("weight of the summed per-block feature KD terms", default=1.0, ge=0)
    ddim_steps: int = doc("DDIM sampling steps (every model, latency too)", default=50, ge=1)
    samples: int = doc("samples per model for the Fréchet distances and accuracy (classes in turn)",
                       default=2000, ge=20)
    latency_repeats: int = doc("timed sampling runs per batch size (the median is reported)", default=3, ge=1)
    out: str = doc("output folder for results.json, results.md, sample grids and the plot",
                   default="runs/diffusion")

    def __post_init__(self):
        check(len(self.seeds) >= 1, "seeds", self.seeds, "at least one integer")
        check(len(self.channels) >= 2, "channels", self.channels, "two or more block widths")
        check(self.student_layers <= self.layers_per_block, "student_layers", self.student_layers,
              f"at most layers_per_block ({self.layers_per_block})")
        check(len(self.students) >= 1 and all(s in STUDENTS for s in self.students), "students", self.students,
              f"one or more of {STUDENTS}")

    def resolved(self) -> "DiffusionConfig":
        """The quick-mode budget filled in.

        Returns:
            A copy with quick mode's steps, samples and seeds (unchanged without ``quick``).
        """
        from dataclasses import replace

        if not self.quick:
            return self
        # 16×16 images and a quarter of the channels: a student step costs ~1/10 of a full-size one.
        return replace(self, teacher_steps=min(self.teacher_steps, 1000), student_steps=min(self.student_steps, 400),
                       samples=min(self.samples, 500), ddim_steps=min(self.ddim_steps, 20),
                       image_size=self.image_size or 16,
                       channels=(16, 32, 32) if self.channels == (32, 64, 64) else self.channels,
                       students=("scratch", "output", "feature") if self.students == STUDENTS else self.students,
                       latency_repeats=min(self.latency_repeats, 2), seeds=self.seeds[:1])


# ------------------------------------------------------------------------------------ data


def load_images(cfg: DiffusionConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """The training and test images in [0, 1] with their labels.

    Args:
        cfg: the settings (``dataset``, ``data_dir``).

    Returns:
        (train images (N, H, W), train labels (N,), test images (M, H, W), test labels (M,), data set name);
        digits: 8×8, a seeded 80/20 split of scikit-learn's 1,797 images.

    Raises:
        FileNotFoundError: the IDX folder is missing.
    """
    if cfg.dataset == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32) / 16.0
        y = torch.tensor(d.target, dtype=torch.int64)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
        cut = int(0.8 * len(y))
        tr, te = order[:cut].sort().values, order[cut:].sort().values
        return x[tr], y[tr], x[te], y[te], "digits"
    from distill.data.idx import load_idx_dataset

    train, test, name = load_idx_dataset(cfg.data_dir)
    return train.images, train.labels, test.images, test.labels, name


# ---------------------------------------------------------------------------------- models


def _diffusers():
    try:
        import diffusers
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(f"`distill experiment diffusion` needs diffusers: {_INSTALL}") from e
    return diffusers


def build_unet(size: int, channels: tuple[int, ...], layers: int, mid_block: bool = True, num_classes: int = 10,
               seed: int = 0) -> nn.Module:
    """A class-conditional ``UNet2DModel`` for one-channel images, initialised from ``seed``.

    Args:
        size: image height = width; must divide by 2^(len(channels) − 1).
        channels: output channels of each down block (the up blocks mirror them).
        layers: residual layers per down block (each up block has ``layers + 1``).
        mid_block: whether the net has its mid block (two residual layers and self-attention).
        num_classes: classes of the class embedding (added to the timestep embedding).
        seed: the seed of the initialisation.

    Returns:
        The U-Net; ``model(x (B, 1, size, size), t (B,), class_labels=(B,)).sample`` is (B, 1, size, size).

    Raises:
        ValueError: ``size`` does not divide by the total downsampling.
    """
    if size % 2 ** (len(channels) - 1):
        raise ValueError(f"image size {size} must divide by 2^{len(channels) - 1} for {len(channels)} blocks; "
                         "use fewer --channels.")
    UNet2DModel = _diffusers().UNet2DModel
    torch.manual_seed(seed)
    groups = math.gcd(*channels, 8)
    return UNet2DModel(
        sample_size=size, in_channels=1, out_channels=1, block_out_channels=tuple(channels), layers_per_block=layers,
        down_block_types=("DownBlock2D",) * len(channels), up_block_types=("UpBlock2D",) * len(channels),
        mid_block_type="UNetMidBlock2D" if mid_block else None, norm_num_groups=groups,
        attention_head_dim=channels[-1], num_class_embeds=num_classes)


def remove_blocks(teacher: nn.Module, layers: int, mid_block: bool = False, seed: int = 0,
                  init: bool = True) -> tuple[nn.Module, dict]:
    """The teacher with residual layers (and the mid block) removed, BK-SDM style.

    Every down block keeps ``layers`` residual layers and every up block ``layers + 1``. With ``init``, each
    student module takes the weights of the teacher's matching one: the stem, time and class embeddings,
    down- and up-samplers and output head (same names), the first ``layers`` residual layers of each down
    block, and for each up block's residual layers, in order, the next teacher layer of that block whose
    weights have the same shapes (its skip input is the same width); the mid block when kept.

    Args:
        teacher: a ``UNet2DModel`` made by ``build_unet``.
        layers: residual layers kept per down block (≤ the teacher's).
        mid_block: keep the mid block.
        seed: the seed of the initialisation of whatever is not copied.
        init: copy the teacher's weights (False: a random initialisation of the same architecture).

    Returns:
        (student, map of student module name → the teacher module it was copied from; empty without ``init``).

    Raises:
        ValueError: ``layers`` exceeds the teacher's layers per block.
    """
    c = teacher.config
    if layers > c.layers_per_block:
        raise ValueError(f"student layers {layers} exceed the teacher's {c.layers_per_block} per block.")
    student = build_unet(c.sample_size, tuple(c.block_out_channels), layers, mid_block and teacher.mid_block is not None,
                         c.num_class_embeds, seed)
    if not init:
        return student, {}
    copied: dict[str, str] = {}
    t_mods = dict(teacher.named_children())
    for name, mod in student.named_children():
        if name in ("down_blocks", "up_blocks", "mid_block") or mod is None:
            continue
        mod.load_state_dict(t_mods[name].state_dict())
        copied[name] = name
    if student.mid_block is not None:
        student.mid_block.load_state_dict(teacher.mid_block.state_dict())
        copied["mid_block"] = "mid_block"

    def shapes(m):
        return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]

    for kind in ("down_blocks", "up_blocks"):
        for i, (s_blk, t_blk) in enumerate(zip(getattr(student, kind), getattr(teacher, kind), strict=True)):
            nxt = 0
            for j, res in enumerate(s_blk.resnets):
                while nxt < len(t_blk.resnets) and shapes(t_blk.resnets[nxt]) != shapes(res):
                    nxt += 1
                if nxt == len(t_blk.resnets):
                    break  # no matching teacher layer left: this one keeps its random initialisation
                res.load_state_dict(t_blk.resnets[nxt].state_dict())
                copied[f"{kind}.{i}.resnets.{j}"] = f"{kind}.{i}.resnets.{nxt}"
                nxt += 1
            for part in ("downsamplers", "upsamplers"):
                if getattr(s_blk, part, None) is not None:
                    getattr(s_blk, part).load_state_dict(getattr(t_blk, part).state_dict())
                    copied[f"{kind}.{i}.{part}"] = f"{kind}.{i}.{part}"
    return student, copied


def feature_layers(student: nn.Module, teacher: nn.Module) -> list[str]:
    """The block outputs matched by feature KD: each down block, the mid block when both have one, each up block.

    Args:
        student: the block-removed U-Net.
        teacher: the teacher U-Net (same number of down and up blocks).

    Returns:
        Module names present in both nets, in forward order.
    """
    names = [f"down_blocks.{i}" for i in range(len(student.down_blocks))]
    if student.mid_block is not None and teacher.mid_block is not None:
        names.append("mid_block")
    return names + [f"up_blocks.{i}" for i in range(len(student.up_blocks))]


def count_params(model: nn.Module) -> int:
    """Number of parameters.

    Args:
        model: any module.

    Returns:
        The parameter count.
    """
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------- training


def _noise_scheduler(cfg: DiffusionConfig):
    return _diffusers().DDPMScheduler(num_train_timesteps=cfg.train_timesteps, beta_schedule="squaredcos_cap_v2")


class _DenoiseRecipe:
    """DDPM training on the loop: step s draws its images, noise and timesteps from (seed, s) alone; with a
    teacher, output KD and (with ``layers``) per-block feature KD are added to the denoising loss."""

    def __init__(self, model, x0, labels, cfg: DiffusionConfig, seed: int, optimizer, scheduler, accelerator,
                 teacher=None, layers: list[str] = (), output_weight: float = 0.0, feature_weight: float = 0.0):
        self.model, self.x0, self.labels, self.cfg, self.seed = model, x0, labels, cfg, seed
        self.optimizer, self.scheduler, self.acc = optimizer, scheduler, accelerator
        self.teacher, self.layers = teacher, list(layers)
        self.output_weight, self.feature_weight = output_weight, feature_weight
        self.noise = _noise_scheduler(cfg)
        raw = accelerator.unwrap_model(model)
        self.s_taps = _HintTaps(raw, self.layers) if self.layers else None
        self.t_taps = _HintTaps(teacher, self.layers) if self.layers else None

    def close(self) -> None:
        """Remove the forward hooks."""
        for taps in (self.s_taps, self.t_taps):
            if taps is not None:
                taps.close()

    def micro_batches(self, step: int) -> list:
        """One micro-batch: (noisy images, noise, timesteps, labels), drawn from (seed, step).

        Args:
            step: the optimizer step.

        Returns:
            A one-element list.
        """
        g = torch.Generator().manual_seed(_step_seed(self.seed, step))
        idx = torch.randint(0, len(self.x0), (self.cfg.batch_size,), generator=g)
        x0 = self.x0[idx]
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, self.cfg.train_timesteps, (len(idx),), generator=g)
        noisy = self.noise.add_noise(x0, noise, t)
        d = self.acc.device
        return [(noisy.to(d), noise.to(d), t.to(d), self.labels[idx].to(d))]

    def loss(self, batch, step: int):
        """Denoising MSE, plus the weighted KD terms.

        Args:
            batch: one micro-batch.
            step: the optimizer step.

        Returns:
            (loss, {"denoise", "output_kd", "feature_kd"} as they apply).
        """
        noisy, noise, t, y = batch
        pred = self.model(noisy, t, class_labels=y).sample
        denoise = F.mse_loss(pred, noise)
        loss, parts = denoise, {"denoise": float(denoise.detach())}
        if self.teacher is not None:
            with torch.no_grad():
                t_pred = self.teacher(noisy, t, class_labels=y).sample
            out_kd = F.mse_loss(pred, t_pred)
            loss = loss + self.output_weight * out_kd
            parts["output_kd"] = float(out_kd.detach())
            if self.layers:
                feat = feature_kd(self.s_taps.out, self.t_taps.out, self.layers)
                loss = loss + self.feature_weight * feat
                parts["feature_kd"] = float(feat.detach())
        return loss, parts

    def save(self, folder: Path) -> None:
        """Weights, optimizer and scheduler state.

        Args:
            folder: the checkpoint folder being written.
        """
        from safetensors.torch import save_file

        raw = self.acc.unwrap_model(self.model)
        save_file({k: v.detach().cpu().contiguous() for k, v in raw.state_dict().items()}, folder / "model.safetensors")
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                   folder / "optimizer.pt")

    def load(self, folder: Path) -> None:
        """Read back what ``save`` wrote.

        Args:
            folder: the checkpoint folder.
        """
        from safetensors.torch import load_file

        self.acc.unwrap_model(self.model).load_state_dict(load_file(folder / "model.safetensors"))
        state = torch.load(folder / "optimizer.pt", weights_only=True, map_location="cpu")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def train_unet(model: nn.Module, x0: torch.Tensor, labels: torch.Tensor, cfg: DiffusionConfig, *, steps: int,
               seed: int, run_dir: Path | None, desc: str, teacher: nn.Module | None = None,
               layers: list[str] = (), output_weight: float = 0.0, feature_weight: float = 0.0) -> dict:
    """Train ``model`` in place through ``distill.train.loop`` (resumable from ``run_dir/checkpoint``).

    Args:
        model: the U-Net to train.
        x0: (N, 1, H, W) training images scaled to [−1, 1].
        labels: (N,) class labels.
        cfg: the settings (batch size, learning rate, timesteps).
        steps: optimizer steps.
        seed: the seed of the per-step draws.
        run_dir: the folder whose ``checkpoint/`` is written and resumed from; None: no checkpoints.
        desc: the progress bar's name.
        teacher: the frozen teacher for output KD (None: denoising loss only).
        layers: block names matched by feature KD (empty: none).
        output_weight: weight of the output KD term.
        feature_weight: weight of the feature KD terms.

    Returns:
        {"final_loss", "seconds", "cpu_seconds", "steps"} and the last step's loss parts.
    """
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    warm = max(1, steps // 20)

    def f(step):
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, f)
    model, optimizer = acc.prepare(model, optimizer)
    if teacher is not None:
        teacher.eval().requires_grad_(False)
    recipe = _DenoiseRecipe(model, x0, labels, cfg, seed, optimizer, scheduler, acc, teacher, layers,
                            output_weight, feature_weight)
    settings_ = {"steps": steps, "seed": seed, "lr": cfg.lr, "batch_size": cfg.batch_size, "desc": desc,
                 "output_weight": output_weight if teacher is not None else 0.0,
                 "feature_weight": feature_weight if layers else 0.0, "timesteps": cfg.train_timesteps}
    cpu0 = time.process_time()
    try:
        r = loop.run(recipe, model=model, optimizer=optimizer, scheduler=scheduler, accelerator=acc,
                     spec=LoopSpec(steps=steps, desc=desc, max_grad_norm=1.0, checkpoint_every=max(200, steps // 4)),
                     ckpt=run_dir / "checkpoint" if run_dir is not None else None, settings=settings_)
    finally:
        recipe.close()
    model.eval()
    return {"steps": r.step, "final_loss": round(r.last.get("loss", float("nan")), 5),
            "seconds": round(r.seconds, 1), "cpu_seconds": round(time.process_time() - cpu0, 1)}


# ---------------------------------------------------------------------------------- sampling


@torch.no_grad()
def sample(model: nn.Module, labels: torch.Tensor, *, steps: int, train_timesteps: int, seed: int,
           batch_size: int = 250, show: bool = True) -> torch.Tensor:
    """DDIM samples (η = 0) of ``model``, one per label; the initial noise is drawn from ``seed``.

    The same seed and labels give every model the same initial noise, so samples compare one to one.

    Args:
        model: a class-conditional U-Net.
        labels: (N,) class of each sample.
        steps: DDIM steps.
        train_timesteps: the DDPM training timesteps (the DDIM schedule is spaced over them).
        seed: the seed of the initial noise.
        batch_size: samples per forward pass.
        show: show a progress bar.

    Returns:
        (N, H, W) float32 images in [0, 1].
    """
    d = _diffusers()
    size = model.config.sample_size
    noise = torch.randn((len(labels), 1, size, size), generator=torch.Generator().manual_seed(seed))
    sched = d.DDIMScheduler(num_train_timesteps=train_timesteps, beta_schedule="squaredcos_cap_v2")
    sched.set_timesteps(steps)
    model.eval()
    out = []
    for i in progress_bar(range(0, len(labels), batch_size), desc="sample", unit="batch", show=show):
        x, y = noise[i: i + batch_size], labels[i: i + batch_size]
        for t in sched.timesteps:
            eps = model(x, t, class_labels=y).sample
            x = sched.step(eps, t, x, eta=0.0).prev_sample
        out.append(((x.clamp(-1, 1) + 1) / 2)[:, 0])
    return torch.cat(out)


def latency(model: nn.Module, batch: int, *, steps: int, train_timesteps: int, repeats: int) -> float:
    """Median wall seconds of sampling ``batch`` images with ``steps`` DDIM steps (after one warm-up run).

    Args:
        model: the U-Net.
        batch: images per call.
        steps: DDIM steps.
        train_timesteps: DDPM training timesteps.
        repeats: timed runs.

    Returns:
        The median seconds per call.
    """
    labels = torch.arange(batch) % 10
    sample(model, labels, steps=min(steps, 2), train_timesteps=train_timesteps, seed=0, batch_size=batch, show=False)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        sample(model, labels, steps=steps, train_timesteps=train_timesteps, seed=r, batch_size=batch, show=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -------------------------------------------------------------------------------- evaluation


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ‖mu1 − mu2‖² + tr(sigma1) + tr(sigma2) − 2 tr((sigma1^½ sigma2 sigma1^½)^½).

    Computed with symmetric eigendecompositions (float64): sigma1^½ from ``eigh``, then the square roots of
    the (clipped at 0) eigenvalues of the symmetric sigma1^½ sigma2 sigma1^½.

    Args:
        mu1: (d,) mean.
        sigma1: (d, d) covariance (symmetric positive semi-definite).
        mu2: (d,) mean.
        sigma2: (d, d) covariance.

    Returns:
        The distance (squared units of the features), ≥ 0.

    Raises:
        ValueError: the shapes disagree.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"means {mu1.shape}, {mu2.shape} and covariances {s1.shape}, {s2.shape} disagree.")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(s1) + np.trace(s2) - 2 * cross))


def gaussian(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased) of feature rows.

    Args:
        features: (N, d) features, N ≥ 2.

    Returns:
        ((d,) mean, (d, d) covariance), float64.
    """
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


class FeatureNet:
    """The packaged Fashion-MNIST CNN: logits and its 256-wide dense features of 28×28 images."""

    def __init__(self):
        from distill.experiments.hinton import packaged_teacher

        path = packaged_teacher()
        if path is None:
            raise FileNotFoundError("the packaged Fashion-MNIST CNN (distill/assets/fashion_mnist_cnn_teacher) "
                                    "is missing; reinstall distill.")
        self.model, _ = load_classifier(path)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and features of images in [0, 1] (resized to 28×28 when they are not).

        Args:
            images: (N, H, W) images.

        Returns:
            ((N, 10) logits, (N, 256) features), float32.
        """
        from distill.train.classifier import predict

        x = images
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x[:, None], size=(28, 28), mode="bilinear", align_corners=False)[:, 0]
        logits, feats = predict(self.model, x, features=("hidden1",), batch_size=500, desc="features")
        return logits, feats["hidden1"]


def sample_grid(images: torch.Tensor, labels: torch.Tensor, title: str, path: Path, per_class: int = 8) -> None:
    """A PNG of samples: one row per class, ``per_class`` columns.

    Args:
        images: (N, H, W) images in [0, 1].
        labels: (N,) class of each image.
        title: the figure's title.
        path: the PNG to write (atomically).
        per_class: images per row.
    """
    from matplotlib.figure import Figure

    from distill.plotting import wrap

    rows = []
    for c in sorted(set(labels.tolist())):
        pick = images[labels == c][:per_class]
        if len(pick) < per_class:
            pick = torch.cat([pick, torch.zeros(per_class - len(pick), *images.shape[1:])])
        rows.append(torch.cat(list(F.pad(pick, (1, 1, 1, 1), value=1.0)), dim=1))
    grid = torch.cat(rows, dim=0).numpy()
    fig = Figure(figsize=(per_class * 0.6 + 0.4, len(rows) * 0.6 + 0.6), layout="constrained")
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(wrap(title, 40), fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_bytes(path, buf.getvalue())


# ------------------------------------------------------------------------------------ run


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images resized to size × size (bilinear, antialiased), in chunks.

    Args:
        images: (N, H, W) images in [0, 1].
        size: the new side.

    Returns:
        (N, size, size) float32 images in [0, 1].
    """
    out = [F.interpolate(images[i: i + 5000, None], size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)[:, 0] for i in range(0, len(images), 5000)]
    return torch.cat(out).clamp(0, 1)


def run_seed(cfg: DiffusionConfig, seed: int, data, out: Path, feature_net: FeatureNet) -> dict:
    """Teacher, students and their evaluation for one seed.

    Args:
        cfg: the resolved settings.
        seed: the seed of initialisations, training draws and sampling noise.
        data: ``load_images``'s tuple.
        out: the seed's output folder (checkpoints, sample grids).
        feature_net: the evaluation CNN.

    Returns:
        {"models": {name: metrics}, "real": {...}} for this seed.
    """
    x_tr, y_tr, x_te, y_te, _ = data
    if cfg.image_size and cfg.image_size != x_tr.shape[-1]:
        x_tr, x_te = resize(x_tr, cfg.image_size), resize(x_te, cfg.image_size)
    size = x_tr.shape[-1]
    x0 = (x_tr[:, None] * 2 - 1).contiguous()  # (N, 1, H, W) in [−1, 1]
    teacher = build_unet(size, cfg.channels, cfg.layers_per_block, True, 10, seed)
    models: dict[str, dict] = {}
    nets: dict[str, nn.Module] = {}
    models["teacher"] = train_unet(teacher, x0, y_tr, cfg, steps=cfg.teacher_steps, seed=seed,
                                   run_dir=out / "teacher", desc=f"teacher (seed {seed})")
    nets["teacher"] = teacher
    for name in cfg.students:
        student, copied = remove_blocks(teacher, cfg.student_layers, cfg.student_mid_block, seed,
                                        init=name != "scratch")
        kd = name in ("output", "feature")
        layers = feature_layers(student, teacher) if name == "feature" else []
        models[name] = train_unet(student, x0, y_tr, cfg, steps=cfg.student_steps, seed=seed + 1,
                                  run_dir=out / name, desc=f"student {name} (seed {seed})",
                                  teacher=teacher if kd else None, layers=layers,
                                  output_weight=cfg.output_weight, feature_weight=cfg.feature_weight)
        models[name]["copied_modules"] = len(copied)
        nets[name] = student

    n = cfg.samples
    labels = torch.arange(n) % 10
    _, real_feats = feature_net(x_te[:n] if len(x_te) >= n else x_te)
    real = gaussian(real_feats)
    _, train_feats = feature_net(x_tr[:n])
    res_real = {"fd_real": round(frechet_distance(*gaussian(train_feats), *real), 3)}
    imgs: dict[str, torch.Tensor] = {}
    for name, net in nets.items():
        t0, c0 = time.perf_counter(), time.process_time()
        imgs[name] = sample(net, labels, steps=cfg.ddim_steps, train_timesteps=cfg.train_timesteps, seed=seed + 7)
        models[name]["sample_seconds"] = round(time.perf_counter() - t0, 1)
        models[name]["sample_cpu_seconds"] = round(time.process_time() - c0, 1)
    # The teacher again from other noise: the floor of the distance to the teacher's samples.
    other = sample(teacher, labels, steps=cfg.ddim_steps, train_timesteps=cfg.train_timesteps, seed=seed + 8)
    feats = {}
    for name, x in imgs.items():
        logits, feats[name] = feature_net(x)
        models[name]["accuracy"] = round(float((logits.argmax(-1) == labels).float().mean()), 4)
    teacher_g = gaussian(feats["teacher"])
    _, other_feats = feature_net(other)
    for name, x in imgs.items():
        g = gaussian(feats[name])
        m = models[name]
        m["params"] = count_params(nets[name])
        m["fd_real"] = round(frechet_distance(*g, *real), 3)
        m["fd_teacher"] = round(frechet_distance(*g, *(gaussian(other_feats) if name == "teacher" else teacher_g)), 3)
        m["pixel_rmse_teacher"] = round(float((x - imgs["teacher"]).pow(2).mean().sqrt()), 4) if name != "teacher" \
            else round(float((other - imgs["teacher"]).pow(2).mean().sqrt()), 4)
        for b in (1, 64):
            m[f"latency_b{b}_s"] = round(latency(nets[name], b, steps=cfg.ddim_steps, train_timesteps=cfg.train_timesteps,
                                                 repeats=cfg.latency_repeats), 4)
        sample_grid(x, labels, f"{name} (seed {seed}): DDIM {cfg.ddim_steps} steps", out / f"samples_{name}.png")
    for m in models.values():
        m["speedup_b1"] = round(models["teacher"]["latency_b1_s"] / m["latency_b1_s"], 3)
        m["speedup_b64"] = round(models["teacher"]["latency_b64_s"] / m["latency_b64_s"], 3)
        m["param_ratio"] = round(m["params"] / models["teacher"]["params"], 4)
    return {"seed": seed, "models": models, "real": res_real}


_METRICS = ("params", "param_ratio", "fd_teacher", "fd_real", "accuracy", "pixel_rmse_teacher", "latency_b1_s",
            "latency_b64_s", "speedup_b1", "speedup_b64", "final_loss", "seconds", "cpu_seconds")


def aggregate(per_seed: list[dict], dataset: str, cfg: DiffusionConfig, seconds: float, cpu_seconds: float) -> dict:
    """Mean and standard deviation of each model's metrics over the seeds.

    Args:
        per_seed: ``run_seed``'s results.
        dataset: the data set's name.
        cfg: the resolved settings.
        seconds: wall seconds of the whole run.
        cpu_seconds: CPU seconds of the whole run (all threads of the process).

    Returns:
        {"dataset", "seeds", "models": {name: {metric: mean, metric_std: std}}, "real", "per_seed", "config",
        "seconds", "cpu_seconds", "threads"}.
    """
    models: dict[str, dict] = {}
    for name in per_seed[0]["models"]:
        agg = {}
        for k in _METRICS:
            vals = [s["models"][name][k] for s in per_seed]
            agg[k] = round(statistics.fmean(vals), 5)
            if len(vals) > 1:
                agg[f"{k}_std"] = round(statistics.stdev(vals), 5)
        models[name] = agg
    fd_real = [s["real"]["fd_real"] for s in per_seed]
    return {"dataset": dataset, "seeds": [s["seed"] for s in per_seed], "models": models,
            "real": {"fd_real": round(statistics.fmean(fd_real), 3)}, "per_seed": per_seed, "config": to_dict(cfg),
            "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1), "threads": torch.get_num_threads()}


def _pm(m: dict, k: str, fmt: str) -> str:
    s = format(m[k], fmt)
    return s + (f" ± {format(m[k + '_std'], fmt)}" if f"{k}_std" in m else "")


def markdown(res: dict) -> str:
    """The run as a table: one row per model.

    Args:
        res: ``aggregate``'s result.

    Returns:
        A Markdown document ending in a newline.
    """
    c = res["config"]
    n = len(res["seeds"])
    lines = [f"# distill experiment diffusion ({res['dataset']}, {n} seed{'s' * (n > 1)}, "
             f"{res['seconds']:.0f} s wall, {res['cpu_seconds']:.0f} CPU s, {res['threads']} thread{'s' * (res['threads'] > 1)})", "",
             f"Teacher {c['teacher_steps']:,} steps; every student {c['student_steps']:,} steps (batch "
             f"{c['batch_size']}, lr {c['lr']:g}); DDIM {c['ddim_steps']} steps, {c['samples']:,} samples per model; "
             "FD = Fréchet distance in the packaged Fashion-MNIST CNN's 256-d features"
             + (" (mean ± sd over seeds)" if n > 1 else "") + ".", "",
             "| model | params | FD → teacher | FD → real test | CNN accuracy | pixel RMSE vs teacher | "
             "latency b1 (s) | latency b64 (s) | speed-up b1 / b64 | train s (CPU s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in res["models"].items():
        label = {"teacher": "teacher", "scratch": "student, scratch", "init": "student, teacher-init",
                 "output": "student, init + output KD", "feature": "student, init + output + feature KD"}[name]
        lines.append(
            f"| {label} | {m['params']:,.0f} ({m['param_ratio']:.0%}) | {_pm(m, 'fd_teacher', '.2f')} | "
            f"{_pm(m, 'fd_real', '.2f')} | {_pm(m, 'accuracy', '.3f')} | {_pm(m, 'pixel_rmse_teacher', '.3f')} | "
            f"{m['latency_b1_s']:.3f} | {m['latency_b64_s']:.3f} | {m['speedup_b1']:.2f}× / {m['speedup_b64']:.2f}× | "
            f"{m['seconds']:.0f} ({m['cpu_seconds']:.0f}) |")
    lines += ["", f"Floor: FD of {c['samples']:,} real training images to the real test images: "
              f"{res['real']['fd_real']:.2f}; the teacher's FD → teacher row is the teacher against its own samples "
              "from other noise, and its pixel RMSE the same pair."]
    return "\n".join(lines) + "\n"


def figure(res: dict):
    """FD to the teacher and to real images per model, as a bar chart.

    Args:
        res: ``aggregate``'s result.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    from distill.plotting import legend_below

    names = list(res["models"])
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    xs = np.arange(len(names))
    for off, key, lab in ((-0.2, "fd_teacher", "FD → teacher's samples"), (0.2, "fd_real", "FD → real test images")):
        vals = [res["models"][n][key] for n in names]
        err = [res["models"][n].get(f"{key}_std", 0.0) for n in names]
        ax.bar(xs + off, vals, 0.4, yerr=err, label=lab)
    ax.set_xticks(xs, names)
    ax.set_ylabel("Fréchet distance (CNN features)")
    ax.set_title(f"Block-removed students ({res['dataset']}), lower is better", fontsize=10)
    legend_below(ax, columns=2)
    return fig


class DiffusionResult(Result):
    """What `distill experiment diffusion` returns (``results.json``); its summary is ``results.md``."""

    dataset: str
    seeds: list
    models: dict
    real: dict
    config: dict
    seconds: float
    cpu_seconds: float


def run(cfg: DiffusionConfig) -> DiffusionResult:
    """Run the experiment; write results.json, results.md, fd.png and per-seed sample grids to ``cfg.out``.

    Args:
        cfg: the settings.

    Returns:
        The ``aggregate`` result.

    Raises:
        ModuleNotFoundError: diffusers is not installed.
        FileNotFoundError: the data or the packaged CNN is missing.
    """
    _diffusers()
    t0, c0 = time.time(), time.process_time()
    cfg = cfg.resolved()
    data = load_images(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    net = FeatureNet()
    per_seed = []
    for seed in cfg.seeds:
        per_seed.append(run_seed(cfg, seed, data, out / f"seed{seed}", net))
        atomic_json(out / f"seed{seed}.json", per_seed[-1])
    res = aggregate(per_seed, data[4], cfg, time.time() - t0, time.process_time() - c0)
    res = DiffusionResult(res, report=markdown(res))
    write_results(out, res)
    buf = io.BytesIO()
    figure(res).savefig(buf, format="png", dpi=110)
    atomic_bytes(out / "fd.png", buf.getvalue())
    return res

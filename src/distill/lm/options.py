"""Option groups the LM commands share, each field defined once (litgpt's composed args).

A command's settings class lists the groups it takes as bases, e.g.
``class LMTrainConfig(EvalOptions, CheckpointOptions, LMOptimOptions, CorpusOptions, TeacherModelOptions)``;
its fields are those of the groups (in reverse order of the bases: a dataclass collects base fields
from the last base first) followed by its own. A command that needs another default or rule for a
shared field declares that field again (``lm eval`` requires ``data``), keeping the flag and meaning.
Importable without torch, so that ``--help`` stays fast.
"""

from __future__ import annotations

from typing import Literal

from distill.config import doc, settings

TEACHER_MODEL_HELP = "teacher: HF folder, hub id, or 'smollm2' (the embedded default; `distill list embedded`)"
CORPUS_HELP = "corpus: text file, JSONL with a 'text' field, a folder of them, or a datasets folder"


@settings
class TeacherModelOptions:
    """The white-box teacher: a model whose logits the command reads, in process."""

    teacher: str = doc(TEACHER_MODEL_HELP, default="smollm2", group="models and data")


@settings
class CorpusOptions:
    """The text the command reads, cut into windows of tokens."""

    data: str = doc(CORPUS_HELP, default="", group="models and data")
    window: int = doc("tokens per window (sequence length)", default=256, group="models and data", ge=1)
    max_windows: int = doc("use the corpus's first N windows only (0: all; the same N in `lm capture` and "
                           "`lm train` gives the same windows)", default=0, group="models and data", ge=0)


@settings
class LMOptimOptions:
    """How a language model is optimized: AdamW with linear warm-up and cosine decay."""

    batch_size: int = doc("windows per optimizer step (global, split across processes)", default=4,
                          group="optimization", ge=1)
    grad_accum: int = doc("micro-batches per optimizer step", default=1, group="optimization", ge=1)
    steps: int = doc("optimizer steps", default=100, group="optimization", ge=1)
    lr: float = doc("peak learning rate (AdamW, linear warm-up, cosine decay)", default=1e-4, group="optimization",
                    gt=0)
    warmup: int = doc("warm-up steps", default=10, group="optimization", ge=0)
    weight_decay: float = doc("AdamW weight decay", default=0.0, group="optimization", ge=0)
    lora_r: int = doc("LoRA rank (0: train all weights); needs peft", default=0, group="optimization", ge=0)
    mixed_precision: Literal["no", "bf16", "fp16"] = doc("autocast precision where the device supports it",
                                                          default="no", group="optimization")
    max_grad_norm: float = doc("clip the global gradient norm to this (0: no clipping; 1.0 as TRL and HF Trainer)",
                               default=1.0, ge=0, group="optimization")
    seed: int = doc("seed of data order, sampling and initialization", default=0, group="optimization")


@settings
class EvalOptions:
    """Held-out evaluation during training."""

    eval_every: int = doc("evaluate on --eval-data every N steps and at the end: held-out CE, perplexity and KL to "
                          "a live teacher (0: never)", default=0, ge=0, group="evaluation")
    eval_data: str = doc("held-out corpus for --eval-every (never trained on)", default="", group="evaluation")
    eval_windows: int = doc("held-out windows evaluated each time", default=16, ge=1, group="evaluation")


@settings
class CheckpointOptions:
    """Resumable checkpoints and metric logs of a training run."""

    checkpoint_every: int = doc("save a resumable checkpoint every N steps (0: only at the end)", default=50,
                                group="output", ge=0)
    tensorboard: bool = doc("also write the metrics as TensorBoard events under OUT/tensorboard (skipped with a "
                            "note when the tensorboard package is missing)", default=True, group="output")

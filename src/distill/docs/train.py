"""`distill docs train DATASET`: fine-tune the student on the exported triples.

The same written-out loop as `distill lm train` (accelerate; full or LoRA; resume; metrics), fed with
the data set's chat examples; the loss counts the assistant replies only. Black-box by default
(cross-entropy on the teacher's text); where the teacher is a local model that shares the student's
tokenizer, ``--loss forward_kl --ce-weight 0.5`` adds white-box KD on the same reply tokens.
"""

from __future__ import annotations

from pathlib import Path

from distill.config import check, doc, settings
from distill.lm.names import Loss
from distill.lm.train import LMTrainConfig, TrainResult, run


@settings
class DocsTrainConfig(LMTrainConfig):
    """Settings of `distill docs train` (those of `distill lm train`, with defaults for Q&A fine-tuning)."""

    # lm train's settings that have no meaning here: the data are chat examples, not a corpus cut into
    # windows or a target store, training is off-policy on the teacher's replies, and held-out evaluation is
    # `distill docs eval`.
    NOT_OPTIONS = ("targets", "lmbda", "max_new_tokens", "max_windows", "eval_every", "eval_data", "eval_windows")

    dataset: str = doc("data set folder written by `distill docs generate` (WORKDIR/dataset)", default="",
                       flag="dataset")
    student: str = doc("student to fine-tune: HF folder, hub id, or 'smollm2'", default="smollm2")
    data: str = doc("chat JSONL to train on (default: DATASET/train.jsonl)", default="")
    loss: Loss = doc(
        "'ce' (black-box: the teacher's text only) or a divergence to a local teacher on the reply tokens",
        default="ce")
    window: int = doc("longest example in tokens (longer prompts are dropped, replies cut)", default=384)
    batch_size: int = doc("examples per optimizer step", default=8)
    steps: int = doc("optimizer steps", default=60)
    lr: float = doc("peak learning rate", default=5e-5)
    warmup: int = doc("warm-up steps", default=5)
    checkpoint_every: int = doc("save a resumable checkpoint every N steps (0: only at the end)", default=0)
    out: str = doc("output folder: model/, metrics.csv, checkpoint/", default="runs/docs/student")

    def __post_init__(self):
        if not self.data:
            check(bool(self.dataset), "dataset", self.dataset, "a data set folder (distill docs train DATASET)")
            object.__setattr__(self, "data", str(Path(self.dataset) / "train.jsonl"))
        super().__post_init__()


def train(cfg: DocsTrainConfig) -> TrainResult:
    """`distill docs train`: fine-tune the student on a generated data set.

    Args:
        cfg: the training settings (``data``: the data set's train.jsonl).

    Returns:
        The `distill.lm.train.run` result.

    Raises:
        FileNotFoundError: ``cfg.data`` does not exist.
    """
    if not Path(cfg.data).exists():
        raise FileNotFoundError(f"{cfg.data} not found: run `distill docs generate` first, or pass --data.")
    return run(cfg)

"""`distill export gguf MODEL`: a llama-architecture student as one GGUF file, checked against the folder.

After writing, the file is read back with transformers' own GGUF loader (which de-quantizes and undoes
the rotary permutation) and its logits on a short text are compared with the folder's: the result says
how far apart they are and whether the greedy next tokens agree. llama.cpp itself is not needed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from distill.config import doc, settings
from distill.results import Result

log = logging.getLogger(__name__)

CHECK_TEXT = "Knowledge distillation trains a small student model to imitate a large teacher model."


@settings
class GGUFExportConfig:
    """Settings of `distill export gguf`."""

    model: str = doc("the HF model folder (llama architecture, byte-level BPE tokenizer), e.g. from "
                     "`distill lm student` or `distill docs train`", flag="model", default="", required=True)
    out: str = doc("the .gguf file to write (default: MODEL/model-QUANTIZE.gguf)", default="")
    quantize: Literal["f16", "q8_0", "f32"] = doc(
        "storage of the matrices: f16 (half the size of float32), q8_0 (8-bit blocks, about a quarter), "
        "f32 (exact); norms stay float32", default="f16")
    check: bool = doc("read the file back with transformers' GGUF loader and compare logits with the folder",
                      default=True)


class GGUFExportResult(Result):
    """What `distill export gguf` returns: the file, its size, and how closely it reproduces the folder."""

    file: str
    quantize: str
    bytes: int
    tensors: int
    parameters: int
    max_abs_logit_diff: float | None
    greedy_agreement: float | None
    out: str

    def summary(self) -> str:
        size = f"{self['bytes'] / 1e6:.1f} MB"
        head = f"GGUF {self['file']} ({self['quantize']}, {self['tensors']} tensors, {self['parameters']:,} weights, {size})"
        if self["max_abs_logit_diff"] is None:
            return head + "; not checked"
        return (f"{head}\nread back by transformers: logits within {self['max_abs_logit_diff']:.2g} of the folder's, "
                f"greedy next token agrees at {self['greedy_agreement']:.0%} of positions")


def compare_logits(folder: Path, gguf_file: Path, text: str = CHECK_TEXT) -> tuple[float, float]:
    """Logits of the folder's model and of the GGUF file (through transformers' loader) on ``text``.

    Args:
        folder: the HF model folder.
        gguf_file: the exported file.
        text: the text both models read.

    Returns:
        (largest absolute logit difference, share of positions whose argmax agrees).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = AutoTokenizer.from_pretrained(folder)(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()(ids).logits[0]
        got = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name,
                                                   dtype=torch.float32).eval()(ids).logits[0]
    return float((got - ref).abs().max()), float((got.argmax(-1) == ref.argmax(-1)).float().mean())


def run(cfg: GGUFExportConfig) -> GGUFExportResult:
    """Export the folder as GGUF and (by default) check the file against it.

    Args:
        cfg: the settings.

    Returns:
        {"file", "quantize", "bytes", "tensors", "parameters", "max_abs_logit_diff", "greedy_agreement", "out"}.

    Raises:
        FileNotFoundError: MODEL is not a folder with a config.json.
        ValueError: a model or tokenizer the exporter does not handle.
    """
    from distill.lm.gguf_export import export_gguf

    folder = Path(cfg.model)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: not an HF model folder (no config.json).")
    out = Path(cfg.out) if cfg.out else folder / f"model-{cfg.quantize}.gguf"
    info = export_gguf(folder, out, cfg.quantize)
    diff = agree = None
    if cfg.check:
        diff, agree = compare_logits(folder, out)
        log.info("checked %s: max |Δlogit| %.3g, greedy agreement %.3f", out, diff, agree)
    return GGUFExportResult(file=str(out), quantize=cfg.quantize, bytes=info["bytes"], tensors=info["tensors"],
                            parameters=info["parameters"], max_abs_logit_diff=diff, greedy_agreement=agree,
                            out=str(out.parent))

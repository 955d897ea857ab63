"""`distill lm eval`: how close is the student to the teacher, and how much cheaper is it?"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch

from distill.config import doc, settings
from distill.losses import forward_kl
from distill.progress import bar

log = logging.getLogger(__name__)


@settings
class LMEvalConfig:
    """Settings of `distill lm eval`."""

    teacher: str = doc("teacher: HF folder, hub id, or 'smollm2' (the embedded default)", default="smollm2")
    student: str = doc("student HF folder", default="", required=True)
    data: str = doc("held-out corpus", default="", required=True)
    window: int = doc("tokens per evaluation window", default=256, ge=1)
    max_windows: int = doc("evaluate at most this many windows", default=32, ge=1)
    batch_size: int = doc("windows per forward", default=4, ge=1)
    gen_tokens: int = doc("tokens generated to time generation speed (0: skip)", default=32, ge=0)


def _timed(fn, device):
    """(fn(), wall seconds). On CUDA the device is synchronized before the clock starts and before it
    stops: kernels run asynchronously, so an unsynchronized timer measures kernel launches only."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    out = fn()
    if cuda:
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - t0


def _size_on_disk(path: str) -> int | None:
    p = Path(path)
    return sum(f.stat().st_size for f in p.glob("*.safetensors")) if p.is_dir() else None


@torch.no_grad()
def evaluate(cfg: LMEvalConfig) -> dict:
    from distill.lm.compat import shared_vocab_size
    from distill.lm.corpus import pack_windows
    from distill.lm.models import load_model, load_tokenizer, resolve

    device = "cuda" if torch.cuda.is_available() else "cpu"
    t_path = resolve(cfg.teacher)
    t_tok, s_tok = load_tokenizer(t_path), load_tokenizer(cfg.student)
    teacher, student = load_model(t_path, device=device), load_model(cfg.student, device=device)
    V = shared_vocab_size(t_tok, s_tok, teacher.config.vocab_size, student.config.vocab_size)
    windows = pack_windows(cfg.data, s_tok, cfg.window, cfg.max_windows)
    sums = {"t_nll": 0.0, "s_nll": 0.0, "kl": 0.0, "agree": 0, "n": 0}
    secs = {"teacher": 0.0, "student": 0.0}
    for b in bar(range(0, len(windows), cfg.batch_size), desc="eval", unit="batch"):
        x = windows[b : b + cfg.batch_size].to(device)
        outs = {}
        for name, model in (("teacher", teacher), ("student", student)):
            # speed: the forward alone, synchronized; quality is computed outside the timed region
            logits, dt = _timed(lambda m=model: m(x).logits, device)
            secs[name] += dt
            outs[name] = logits[..., :V].float().log_softmax(-1)  # (b, L, V)
        lt, ls = outs["teacher"][:, :-1], outs["student"][:, :-1]  # predict tokens 1..L−1
        y = x[:, 1:]
        sums["t_nll"] -= lt.gather(-1, y[..., None]).sum().item()
        sums["s_nll"] -= ls.gather(-1, y[..., None]).sum().item()
        # KL(teacher ‖ student) per token, by the training loss itself (one implementation per metric);
        # forward_kl is the mean over positions, so times their number for the running sum.
        sums["kl"] += forward_kl(ls, lt).item() * y.numel()
        sums["agree"] += (lt.argmax(-1) == ls.argmax(-1)).sum().item()
        sums["n"] += y.numel()
    n = sums["n"]
    tokens = windows.numel()
    res = {
        "tokens": n,
        "teacher": {"perplexity": math.exp(sums["t_nll"] / n), "forward_tokens_per_s": tokens / secs["teacher"]},
        "student": {"perplexity": math.exp(sums["s_nll"] / n), "forward_tokens_per_s": tokens / secs["student"]},
        "kl_teacher_student": sums["kl"] / n,
        "top1_agreement": sums["agree"] / n,
    }
    for name, model, path in (("teacher", teacher, t_path), ("student", student, cfg.student)):
        res[name]["parameters"] = sum(p.numel() for p in model.parameters())
        res[name]["bytes_on_disk"] = _size_on_disk(path)
        if cfg.gen_tokens:
            prompt = windows[:1, : min(16, cfg.window)].to(device)
            _, dt = _timed(lambda m=model: m.generate(
                prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=cfg.gen_tokens,
                min_new_tokens=cfg.gen_tokens, do_sample=False, pad_token_id=m.config.eos_token_id or 0), device)
            res[name]["generate_tokens_per_s"] = cfg.gen_tokens / dt
    res["forward_speedup"] = res["student"]["forward_tokens_per_s"] / res["teacher"]["forward_tokens_per_s"]
    return res


def markdown(res: dict) -> str:
    t, s = res["teacher"], res["student"]
    rows = [
        ("perplexity (held out)", f"{t['perplexity']:.2f}", f"{s['perplexity']:.2f}"),
        ("parameters", f"{t['parameters']:,}", f"{s['parameters']:,}"),
        ("forward tokens/s", f"{t['forward_tokens_per_s']:.0f}", f"{s['forward_tokens_per_s']:.0f}"),
    ]
    if "generate_tokens_per_s" in t:
        rows.append(("generation tokens/s", f"{t['generate_tokens_per_s']:.1f}", f"{s['generate_tokens_per_s']:.1f}"))
    lines = ["| | teacher | student |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append(f"\nKL(teacher ‖ student) per token: {res['kl_teacher_student']:.4f} · top-1 agreement: "
                 f"{res['top1_agreement']:.1%} · forward speed-up: {res['forward_speedup']:.2f}× · {res['tokens']:,} tokens")
    return "\n".join(lines) + "\n"

"""`distill lm eval`: how close is the student to the teacher, and how much cheaper is it?"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import torch

from distill.config import doc, settings
from distill.lm import collapse, speed
from distill.lm.options import CORPUS_HELP, CorpusOptions, TeacherModelOptions
from distill.losses import forward_kl
from distill.progress import bar
from distill.results import Result

log = logging.getLogger(__name__)


@settings
class LMEvalConfig(CorpusOptions, TeacherModelOptions):
    """Settings of `distill lm eval`: teacher and corpus (:mod:`distill.lm.options`), the student, timing."""

    student: str = doc("student HF folder", default="", group="models and data", required=True)
    data: str = doc(f"held-out {CORPUS_HELP}", default="", group="models and data", required=True)
    max_windows: int = doc("evaluate at most this many windows", default=32, group="models and data", ge=1)
    batch_size: int = doc("windows per forward", default=4, ge=1)
    gen_tokens: int = doc("tokens generated to time generation speed and check for collapse (0: skip)", default=32,
                          ge=0)
    repeats: int = doc("timed repeats of the forward and of generation (median and min–max reported)", default=5,
                       ge=1)


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
def _quality(teacher, student, windows, V: int, batch_size: int, device) -> dict:
    """Sums of NLLs, KL and agreement over ``windows``, and both models' greedy predictions (flat lists)."""
    sums = {"t_nll": 0.0, "s_nll": 0.0, "kl": 0.0, "agree": 0, "n": 0}
    preds = {"teacher": [], "student": []}
    for b in bar(range(0, len(windows), batch_size), desc="eval", unit="batch"):
        x = windows[b : b + batch_size].to(device)
        lt, ls = (m(x).logits[:, :-1, :V].float().log_softmax(-1) for m in (teacher, student))  # (b, L−1, V)
        y = x[:, 1:]  # predict tokens 1..L−1
        sums["t_nll"] -= lt.gather(-1, y[..., None]).sum().item()
        sums["s_nll"] -= ls.gather(-1, y[..., None]).sum().item()
        # KL(teacher ‖ student) per token, by the training loss itself (one implementation per metric);
        # forward_kl is the mean over positions, so times their number for the running sum.
        sums["kl"] += forward_kl(ls, lt).item() * y.numel()
        pt, ps = lt.argmax(-1), ls.argmax(-1)
        sums["agree"] += (pt == ps).sum().item()
        sums["n"] += y.numel()
        preds["teacher"] += pt.flatten().tolist()
        preds["student"] += ps.flatten().tolist()
    return sums | {"preds": preds}


@torch.no_grad()
def _forward_speed(models: dict, x: torch.Tensor, device, repeats: int) -> dict:
    """name → spread of forward tokens/s on batch ``x``, the models timed in turn ``repeats`` times
    (interleaved, so a slow spell of a shared machine hits both rather than one)."""
    for model in models.values():
        model(x[:1, :8])  # warm-up: a model's first call pays one-off allocation costs
    rates = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            _, dt = _timed(lambda m=model: m(x).logits, device)
            rates[name].append(x.numel() / dt)
    return {name: speed.spread(r) for name, r in rates.items()}


@torch.no_grad()
def _generate(model, prompt: torch.Tensor, tokens: int, device, repeats: int) -> tuple[list[int], dict]:
    """(greedy continuation ids, spread of generation tokens/s over ``repeats`` timed runs)."""
    rates, out = [], None
    for _ in range(repeats):
        out, dt = _timed(lambda: model.generate(
            prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=tokens, min_new_tokens=tokens,
            do_sample=False, pad_token_id=model.config.eos_token_id or 0), device)
        rates.append(tokens / dt)
    return out[0, prompt.shape[1]:].tolist(), speed.spread(rates)


class EvalResult(Result):
    """What `distill lm eval` returns: quality, speed and size of teacher and student."""

    tokens: int
    kl_teacher_student: float
    top1_agreement: float
    teacher: dict
    student: dict

    def summary(self) -> str:
        return markdown(self)


def evaluate(cfg: LMEvalConfig) -> EvalResult:
    """Compare a student with its teacher on held-out windows: quality, speed, size and collapse.

    Args:
        cfg: the evaluation settings (teacher, student, corpus, window, batch size, repeats).

    Returns:
        JSON-able dict: ``tokens``, ``kl_teacher_student``, ``top1_agreement``, ``forward_speedup``,
        ``forward_speedup_claimed`` and per model (``teacher``, ``student``) perplexity, speeds,
        parameters, bytes on disk and ``collapse``.
    """
    from distill.lm.compat import shared_vocab_size
    from distill.lm.corpus import pack_windows
    from distill.lm.models import load_model, load_tokenizer, resolve

    device = "cuda" if torch.cuda.is_available() else "cpu"
    t_path = resolve(cfg.teacher)
    t_tok, s_tok = load_tokenizer(t_path), load_tokenizer(cfg.student)
    teacher, student = load_model(t_path, device=device), load_model(cfg.student, device=device)
    V = shared_vocab_size(t_tok, s_tok, teacher.config.vocab_size, student.config.vocab_size)
    windows = pack_windows(cfg.data, s_tok, cfg.window, cfg.max_windows)
    q = _quality(teacher, student, windows, V, cfg.batch_size, device)
    n = q["n"]
    models = {"teacher": teacher, "student": student}
    fwd = _forward_speed(models, windows[: cfg.batch_size].to(device), device, cfg.repeats)
    res = {"tokens": n, "kl_teacher_student": q["kl"] / n, "top1_agreement": q["agree"] / n}
    for name, model, path, tok, nll in (("teacher", teacher, t_path, t_tok, q["t_nll"]),
                                        ("student", student, cfg.student, s_tok, q["s_nll"])):
        r = res[name] = {"perplexity": math.exp(nll / n),
                         "forward_tokens_per_s": fwd[name]["median"], "forward_speed": fwd[name],
                         "parameters": sum(p.numel() for p in model.parameters()),
                         "bytes_on_disk": _size_on_disk(path)}
        gen, text = [], []
        if cfg.gen_tokens:
            prompt = windows[:1, : min(16, cfg.window)].to(device)
            ids, r["generate_speed"] = _generate(model, prompt, cfg.gen_tokens, device, cfg.repeats)
            r["generate_tokens_per_s"] = r["generate_speed"]["median"]
            gen, text = [ids], [tok.decode(ids, skip_special_tokens=True)]
            r["generation"] = text[0]
        other = q["preds"]["teacher"] if name == "student" else None
        r["collapse"] = collapse.detect(q["preds"][name], gen, text, reference=other,
                                        name=lambda t, tok=tok: json.dumps(tok.decode([t]), ensure_ascii=False))
    res["forward_speedup"] = fwd["student"]["median"] / fwd["teacher"]["median"]
    res["forward_speedup_claimed"] = speed.ratio(fwd["student"], fwd["teacher"]) is not None
    return EvalResult(res)


def markdown(res: dict) -> str:
    """The Markdown report of an `evaluate` result.

    Args:
        res: the dict `evaluate` returns.

    Returns:
        Markdown text (a table, a summary line and any collapse warning).
    """
    t, s = res["teacher"], res["student"]
    rows = [
        ("perplexity (held out)", f"{t['perplexity']:.2f}", f"{s['perplexity']:.2f}"),
        ("parameters", f"{t['parameters']:,}", f"{s['parameters']:,}"),
        (f"forward tokens/s, median (min–max of {t['forward_speed']['repeats']})",
         speed.fmt_spread(t["forward_speed"]), speed.fmt_spread(s["forward_speed"])),
    ]
    if "generate_speed" in t:
        rows.append(("generation tokens/s, median (min–max)", speed.fmt_spread(t["generate_speed"], 1),
                     speed.fmt_spread(s["generate_speed"], 1)))
    lines = ["| | teacher | student |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append(f"\nKL(teacher ‖ student) per token: {res['kl_teacher_student']:.4f} · top-1 agreement: "
                 f"{res['top1_agreement']:.1%} · forward speed-up: "
                 f"{speed.fmt_ratio(s['forward_speed'], t['forward_speed'])} · {res['tokens']:,} tokens")
    for name in ("student", "teacher"):
        c = res[name].get("collapse", {})
        if c.get("collapsed"):
            # said before anything else can be read as progress: a collapsed model's KL or
            # agreement measures how often the teacher happens to predict the same token
            lines.append(f"\n**The {name} has {collapse.verdict(c['reasons'])}.** Its perplexity, KL and agreement "
                         "above do not measure a working model.")
    return "\n".join(lines) + "\n"

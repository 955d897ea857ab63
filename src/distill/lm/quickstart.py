"""`distill lm quickstart`: teacher → half-depth student, KD vs CE-only, side by side.

Corpus: Python's own documentation topics (``pydoc_data.topics``, shipped with every
Python), split by topic into training text and held-out text (every tenth topic held
out). The student is cut from the teacher (``--layers``); two copies train for the same
steps on the same windows, one by distillation from the teacher, one on cross-entropy
alone; then both are evaluated against the teacher and continue the same prompt.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from distill.config import doc, settings
from distill.files import write_results
from distill.lm import collapse, speed
from distill.lm.names import Divergence
from distill.results import Result

log = logging.getLogger(__name__)


@settings
class QuickstartConfig:
    """Settings of `distill lm quickstart`."""

    teacher: str = doc("teacher: HF folder, hub id, or 'smollm2' (the embedded default)", default="smollm2")
    layers: str = doc("student layers kept from the teacher (see `distill lm student`); last-half started and "
                      "ended best of the rules compared on SmolLM2 (benchmarks/lm_kd_vs_ce.py)", default="last-half")
    loss: Divergence = doc("divergence for the KD student", default="forward_kl")
    ce_weight: float = doc("weight α of cross-entropy on the text in the KD student's loss, (1 − α)·divergence + "
                           "α·CE: the divergence pulls toward the teacher (KL), the text term toward the data "
                           "(perplexity)", default=0.5, ge=0, lt=1, was="alpha")
    steps: int = doc("optimizer steps for each student", default=30, ge=1)
    window: int = doc("tokens per window", default=128)
    batch_size: int = doc("windows per step", default=4)
    lr: float = doc("peak learning rate", default=3e-4)
    eval_windows: int = doc("held-out windows evaluated", default=16)
    prompt: str = doc("prompt both students and the teacher continue",
                      default="The with statement is used to")
    out: str = doc("output folder", default="runs/lm-quickstart")


def pydoc_corpus(out: Path) -> tuple[Path, Path]:
    """Write pydoc_data's topics as train.txt (9 of every 10 topics) and heldout.txt (the rest).

    Args:
        out: folder to write the two files into (created if needed).

    Returns:
        (train.txt path, heldout.txt path).
    """
    from pydoc_data.topics import topics

    out.mkdir(parents=True, exist_ok=True)
    names = sorted(topics)
    train = [topics[n] for i, n in enumerate(names) if i % 10 != 9]
    held = [topics[n] for i, n in enumerate(names) if i % 10 == 9]
    (out / "train.txt").write_text("\n\n".join(train))
    (out / "heldout.txt").write_text("\n\n".join(held))
    return out / "train.txt", out / "heldout.txt"


def _continue(model_dir: str, prompt: str, tokens: int = 24) -> tuple[str, list[int]]:
    import torch

    from distill.lm.models import load_model, load_tokenizer

    tok, model = load_tokenizer(model_dir), load_model(model_dir)
    x = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        y = model.generate(**x, max_new_tokens=tokens, do_sample=False, pad_token_id=tok.eos_token_id or 0)
    # Not stripped: an undertrained student's greedy output is often only newlines, and an
    # empty string would hide that.
    ids = y[0, x["input_ids"].shape[1]:].tolist()
    return tok.decode(ids, skip_special_tokens=True), ids


def _with_sample(found: dict, text: str, ids: list[int]) -> dict:
    """The eval's collapse checks plus those on the demo prompt's continuation (blank, repetition)."""
    extra = collapse.detect([], [ids], [text])
    reasons = found["reasons"] + ([f"on the demo prompt, {r}" for r in extra["reasons"]] if not found["reasons"] else [])
    return found | {"collapsed": bool(reasons), "reasons": reasons, "sample_repeated_share": extra["repeated_share"],
                    "sample_blank": bool(extra["blank"])}


class QuickstartResult(Result):
    """What `distill lm quickstart` returns (``results.json``); its summary is ``results.md``."""

    teacher: str
    layers: str
    steps: int
    seconds: float

    def summary(self) -> str:
        return markdown(self)


def run(cfg: QuickstartConfig) -> QuickstartResult:
    """`distill lm quickstart`: cut a student, train it with KD and with CE only, and compare both.

    Args:
        cfg: the quickstart settings (teacher, layers, steps, loss, output folder).

    Returns:
        JSON-able results (also written under ``cfg.out``): the settings, ``start``, ``teacher_perplexity``,
        per student (``kd``, ``ce``) its metrics and collapse checks, ``samples``, ``prompt``, ``seconds``.
    """
    from distill.lm.evaluate import LMEvalConfig, evaluate
    from distill.lm.models import resolve
    from distill.lm.student import build_student
    from distill.lm.train import LMTrainConfig
    from distill.lm.train import run as train

    t0 = time.time()
    out = Path(cfg.out)
    train_txt, held_txt = pydoc_corpus(out / "corpus")
    teacher = resolve(cfg.teacher)
    if not (out / "student" / "config.json").exists():
        build_student(teacher, cfg.layers, out / "student")
    base = LMTrainConfig(teacher=teacher, student=str(out / "student"), data=str(train_txt), window=cfg.window,
                         batch_size=cfg.batch_size, steps=cfg.steps, lr=cfg.lr, warmup=max(1, cfg.steps // 10),
                         checkpoint_every=max(1, cfg.steps // 3), out=str(out / "kd"), loss=cfg.loss, ce_weight=cfg.ce_weight)
    runs = {"kd": base, "ce": replace(base, loss="ce", out=str(out / "ce"))}
    res = {"teacher": teacher, "layers": cfg.layers, "steps": cfg.steps, "loss": cfg.loss, "ce_weight": cfg.ce_weight, "tokens_per_student": cfg.steps * cfg.batch_size * cfg.window}
    evals = {}
    log.info("student: %s layers of %s in %s", cfg.layers, teacher, out / "student")
    for name, tcfg in runs.items():
        log.info("%s: training %d steps", _LABELS[name], cfg.steps)
        train(tcfg)
        log.info("%s: evaluating on %d held-out windows", _LABELS[name], cfg.eval_windows)
        evals[name] = evaluate(LMEvalConfig(teacher=teacher, student=str(Path(tcfg.out) / "model"), data=str(held_txt),
                                            window=cfg.window, max_windows=cfg.eval_windows, gen_tokens=16))
    start = evaluate(LMEvalConfig(teacher=teacher, student=str(out / "student"), data=str(held_txt), window=cfg.window,
                                  max_windows=cfg.eval_windows, gen_tokens=0))
    res["start"] = {"perplexity": start["student"]["perplexity"], "kl": start["kl_teacher_student"]}
    res["teacher_perplexity"] = evals["kd"]["teacher"]["perplexity"]
    samples = {"teacher": _continue(teacher, cfg.prompt)}
    for name in runs:
        e = evals[name]
        samples[name] = _continue(str(out / name / "model"), cfg.prompt)
        res[name] = {"perplexity": e["student"]["perplexity"], "kl": e["kl_teacher_student"],
                     "top1_agreement": e["top1_agreement"], "forward_speedup": e["forward_speedup"],
                     "forward_speed": e["student"]["forward_speed"], "teacher_forward_speed": e["teacher"]["forward_speed"],
                     "collapse": _with_sample(e["student"]["collapse"], *samples[name])}
    res["samples"] = {k: text for k, (text, _) in samples.items()}
    res["prompt"] = cfg.prompt
    res["seconds"] = round(time.time() - t0, 1)
    res = QuickstartResult(res)
    write_results(out, res, markdown)
    return res


_LABELS = {"kd": "KD student", "ce": "CE-only student"}


def speedups(res: dict) -> dict[str, str]:
    """Each student's forward speed-up over the teacher, as the table prints it.

    '≈ 1×' where the student's timings overlap the teacher's. When the two students' timings overlap
    each other (same architecture: they should), both get one figure from their pooled timings, so
    that noise is not shown as a difference between them.

    Args:
        res: a `run` result.

    Returns:
        {"kd": speed-up text, "ce": speed-up text}.
    """
    kd, ce = res["kd"], res["ce"]
    if "forward_speed" not in kd:  # results written before speeds were repeated
        return {k: f"{res[k]['forward_speedup']:.2f}×" for k in ("kd", "ce")}
    if speed.overlap(kd["forward_speed"], ce["forward_speed"]):
        s = speed.spread(kd["forward_speed"]["rates"] + ce["forward_speed"]["rates"])
        t = speed.spread(kd["teacher_forward_speed"]["rates"] + ce["teacher_forward_speed"]["rates"])
        both = speed.fmt_ratio(s, t) + " (both)"
        return {"kd": both, "ce": both}
    return {k: speed.fmt_ratio(res[k]["forward_speed"], res[k]["teacher_forward_speed"]) for k in ("kd", "ce")}


def verdict(res: dict, labels: dict[str, str] = _LABELS) -> str:
    """One plain sentence on the two students: which have collapsed, else which is ahead on what.

    No ranking among collapsed students: their KL and perplexity compare two broken models.

    Args:
        res: a `run` result.
        labels: how the sentence names each student.

    Returns:
        The sentence (Markdown).
    """
    broken = {k: res[k]["collapse"]["reasons"] for k in ("kd", "ce") if res[k].get("collapse", {}).get("collapsed")}
    if len(broken) == 2:
        return ("**Both students have collapsed** (" + "; ".join(f"{labels[k]}: {'; '.join(r)}" for k, r in broken.items())
                + "). Neither is better: the differences in the table are between two broken models. "
                "Train for more steps (--steps) before comparing.")
    if broken:
        (k, r), = broken.items()
        ok = "ce" if k == "kd" else "kd"
        return f"**The {labels[k]} has {collapse.verdict(r)}**; only the {labels[ok]} is a working model."
    parts = []
    for metric, key in (("KL(teacher ‖ student)", "kl"), ("held-out perplexity", "perplexity")):
        a, b = res["kd"][key], res["ce"][key]
        parts.append(f"lower {metric}: " + ("neither" if a == b else labels["kd" if a < b else "ce"])
                     + f" ({a:,.3g} vs {b:,.3g})")
        # 3 significant digits: these are single runs, a further digit would be noise
    return "Neither student has collapsed; " + "; ".join(parts) + "."


def markdown(res: dict) -> str:
    """The Markdown report of a `run` result.

    Args:
        res: a `run` result.

    Returns:
        Markdown text: the comparison table, the verdict and the sample continuations.
    """
    lines = [
        f"Student: teacher layers `{res['layers']}`, {res['steps']} steps ({res['tokens_per_student']:,} tokens) each; "
        f"{res['seconds']:.0f} s in all",
        "",
        "| | held-out perplexity | KL(teacher ‖ student) | top-1 agreement | forward speed-up |",
        "|---|---|---|---|---|",
        f"| teacher | {res['teacher_perplexity']:.1f} | 0 | 100% | 1.00× |",
        f"| student before training | {res['start']['perplexity']:,.0f} | {res['start']['kl']:.2f} | | |",
    ]
    kd = f"KD student ({res.get('loss', 'forward_kl')}" + (f", CE weight {res['ce_weight']:g}" if res.get("ce_weight") else "") + ")"
    fast = speedups(res)
    for name, label in (("kd", kd), ("ce", "CE-only student")):
        r = res[name]
        if r.get("collapse", {}).get("collapsed"):
            label += ", **collapsed**"
        lines.append(f"| {label} | {r['perplexity']:,.1f} | {r['kl']:.3f} | {r['top1_agreement']:.1%} | {fast[name]} |")
    lines += ["", verdict(res)]
    lines += ["", f"Prompt: {res['prompt']!r}"] + [f"- {k}: {v!r}" for k, v in res["samples"].items()]
    return "\n".join(lines) + "\n"

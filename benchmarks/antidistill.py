"""Antidistillation sampling's trade-off curve at CPU scale: teacher accuracy against the accuracy of a student
distilled on the teacher's sampled traces, for a λ sweep (antidistillation) and a temperature sweep (plain).

Everything is built here, offline, in minutes (``distill.watermark.arith``: two-digit addition with a
chain-of-thought trace, 15 character tokens, fixed length 6 + 22):

- pairs: 10,000 operand pairs split (seed 0) into teacher-training (6,000), distillation prompts
  (``--distill``, 2,000), the proxy's downstream set (256) and the held-out test set (1,000); disjoint;
- teacher: a 2-layer Llama (hidden 64) trained on the correct traces of the teacher-training pairs;
- proxy student: a 2-layer Llama (hidden 32, seed 1) trained on the correct traces of the distillation pairs;
  the downstream loss L is its loss on the trace tokens of the 256 downstream pairs;
- for each λ (temperature 1) and each temperature (λ = 0) and each seed, the teacher samples one trace per
  distillation prompt (seeded); teacher accuracy = share of those traces with the correct final answer;
- the target student (2-layer Llama, hidden 48, seeded per seed: a different size and seed from the proxy) is
  trained from scratch on the sampled traces (loss on the trace) and its greedy accuracy measured on the test set.

All training runs on the package's one loop (``distill.train.loop``). Writes the "antidistill" key of
benchmarks/results/defenses.json (other keys kept), regenerates defenses.md, and plots
benchmarks/results/antidistill.png.

    OMP_NUM_THREADS=2 python benchmarks/antidistill.py            # the figures in the README
    OMP_NUM_THREADS=2 python benchmarks/antidistill.py --quick    # a smoke run (~1 min, writes *_quick)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from distill.files import atomic_json, atomic_text
from distill.watermark import arith
from distill.watermark.antidistill import AntidistillProcessor, downstream_direction

ROOT = Path(__file__).resolve().parents[1]
P, T = arith.PROMPT_CHARS, arith.TRACE_CHARS
VOCAB = len(arith.VOCAB) + 1  # one spare id, never used


def make_llama(hidden: int, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=2 * hidden,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                        max_position_embeddings=32, eos_token_id=VOCAB - 1, bos_token_id=VOCAB - 1))


class SFTRecipe:
    """Next-token loss on the trace tokens of fixed-length (prompt + trace) rows; batch order seeded per step."""

    def __init__(self, model, rows: torch.Tensor, batch: int, seed: int):
        self.model, self.x, self.batch, self.seed = model, rows, batch, seed
        self.y = rows.clone()
        self.y[:, :P] = -100  # the prompt is context

    def micro_batches(self, step: int):
        g = torch.Generator().manual_seed(self.seed * 100_003 + step)
        return [torch.randint(0, len(self.x), (self.batch,), generator=g)]

    def loss(self, idx, step: int):
        out = self.model(input_ids=self.x[idx], labels=self.y[idx])
        return out.loss, {}

    def save(self, folder):  # no checkpoints: each model trains in seconds
        pass

    def load(self, folder):
        pass


def fit(model, rows: torch.Tensor, steps: int, lr: float, seed: int, desc: str, batch: int = 64):
    """Train ``model`` on ``rows`` through distill.train.loop (AdamW, warm-up then linear decay, clip 1)."""
    from accelerate import Accelerator

    from distill.train import loop

    acc = Accelerator(cpu=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))
    m, opt = acc.prepare(model, opt)
    r = loop.run(SFTRecipe(m, rows, batch, seed), model=m, optimizer=opt, scheduler=sched, accelerator=acc,
                 spec=loop.LoopSpec(steps=steps, desc=desc, max_grad_norm=1.0), ckpt=None, settings=None)
    return acc.unwrap_model(m).eval(), r.last["loss"]


def rows_of(pairs, traces=None) -> torch.Tensor:
    traces = traces if traces is not None else [arith.trace(a, b) for a, b in pairs]
    return torch.tensor([arith.encode(arith.prompt(a, b) + t) for (a, b), t in zip(pairs, traces, strict=True)])


def sample(model, pairs, *, temperature: float = 1.0, processor=None, seed: int = 0, greedy: bool = False,
           batch: int = 1000) -> list[str]:
    """Traces of ``model`` after each pair's prompt: greedy, or sampled from softmax(processor(log p) / T)."""
    out = []
    g = torch.Generator().manual_seed(seed)
    for i in range(0, len(pairs), batch):
        ids = torch.tensor([arith.encode(arith.prompt(a, b)) for a, b in pairs[i:i + batch]])
        with torch.inference_mode():
            for _ in range(T):
                logits = model(input_ids=ids).logits[:, -1, :len(arith.VOCAB)].float()
                scores = logits.log_softmax(-1)
                if processor is not None:
                    scores = processor(ids, scores)
                if greedy:
                    nxt = scores.argmax(-1)
                else:
                    nxt = torch.multinomial((scores / temperature).softmax(-1), 1, generator=g)[:, 0]
                ids = torch.cat([ids, nxt[:, None]], 1)
        out += [arith.decode(r[P:].tolist()) for r in ids]
    return out


def run_setting(args, teacher, pairs_d, pairs_t, seed: int, *, lam: float = 0.0, temperature: float = 1.0,
                proxy=None, direction=None) -> dict:
    t0 = time.perf_counter()
    proc = AntidistillProcessor(proxy, direction, lam, eps=args.eps) if lam else None
    traces = sample(teacher, pairs_d, temperature=temperature, processor=proc, seed=1000 + seed)
    gen_s = time.perf_counter() - t0
    t_acc = arith.accuracy(pairs_d, traces)
    student, loss = fit(make_llama(args.student_hidden, seed=10 + seed), rows_of(pairs_d, traces), args.student_steps,
                        args.lr, seed=20 + seed, desc=f"student λ={lam} T={temperature} seed {seed}")
    s_acc = arith.accuracy(pairs_t, sample(student, pairs_t, greedy=True))
    row = {"lam": lam, "temperature": temperature, "seed": seed, "teacher_acc": t_acc, "student_acc": s_acc,
           "student_final_loss": round(loss, 4), "generation_s": round(gen_s, 1),
           "seconds": round(time.perf_counter() - t0, 1),
           "malformed": sum(arith.final_answer(t) is None for t in traces) / len(traces)}
    print(f"  λ={lam} T={temperature} seed {seed}: teacher {t_acc:.4f}, student {s_acc:.4f} "
          f"[{row['seconds']} s]", flush=True)
    return row


def curve(runs: list[dict], key: str) -> list[dict]:
    out = []
    for v in sorted({r[key] for r in runs}):
        rs = [r for r in runs if r[key] == v]
        ta, sa = np.array([r["teacher_acc"] for r in rs]), np.array([r["student_acc"] for r in rs])
        out.append({key: v, "seeds": len(rs), "teacher_acc_mean": round(float(ta.mean()), 4),
                    "teacher_acc_std": round(float(ta.std(ddof=1)) if len(rs) > 1 else 0.0, 4),
                    "student_acc_mean": round(float(sa.mean()), 4),
                    "student_acc_std": round(float(sa.std(ddof=1)) if len(rs) > 1 else 0.0, 4),
                    "student_acc_min": round(float(sa.min()), 4), "student_acc_max": round(float(sa.max()), 4)})
    return out


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distill.plotting import legend_below

    fig, ax = plt.subplots(figsize=(6, 4.6))
    for key, name, sym, mk in (("lam", "antidistillation (λ sweep, T = 1)", "λ", "o"),
                               ("temperature", "temperature sweep (λ = 0)", "T", "s")):
        c = res[f"curve_{key}"]
        x = [100 * r["teacher_acc_mean"] for r in c]
        y = [100 * r["student_acc_mean"] for r in c]
        ax.errorbar(x, y, xerr=[100 * r["teacher_acc_std"] for r in c], yerr=[100 * r["student_acc_std"] for r in c],
                    marker=mk, capsize=3, label=name)
        groups: list[list[int]] = []  # points within 3 points of teacher accuracy share one label: "λ=0–0.01"
        for i, xi in enumerate(x):
            if groups and abs(xi - x[groups[-1][0]]) < 3:
                groups[-1].append(i)
            else:
                groups.append([i])
        for g in groups:
            vals = f"{c[g[0]][key]:g}" + (f"–{c[g[-1]][key]:g}" if len(g) > 1 else "")
            # λ labels below the curve, T labels above, so the two sweeps' labels never collide
            ax.annotate(f"{sym}={vals}", (x[g[-1]], y[g[-1]]), fontsize=7, xytext=(4, -11 if key == "lam" else 5),
                        textcoords="offset points")
    ax.set_xlabel("teacher accuracy on its sampled traces (%)")
    ax.set_ylabel("distilled student's held-out accuracy (%)")
    ax.set_title(f"Two-digit addition, mean ± sd over {res['setup']['seeds']} seeds", fontsize=10)
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    legend_below(ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lams", type=float, nargs="+", default=[0.0, 0.005, 0.01, 0.02, 0.03])
    ap.add_argument("--temperatures", type=float, nargs="+", default=[1.25, 1.5, 1.75, 2.0])
    ap.add_argument("--distill", type=int, default=2000)
    ap.add_argument("--teacher-steps", type=int, default=1500)
    ap.add_argument("--proxy-steps", type=int, default=600)
    ap.add_argument("--student-steps", type=int, default=600)
    ap.add_argument("--student-hidden", type=int, default=48)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eps", type=float, default=1e-2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "defenses"))
    ap.add_argument("--replot", action="store_true", help="redraw antidistill.png from OUT.json, run nothing")
    args = ap.parse_args()
    if args.replot:
        res = json.loads(Path(args.out + ".json").read_text())["antidistill"]
        plot(res, Path(args.out).with_name("antidistill.png"))
        return
    if args.quick:
        args.seeds, args.teacher_steps, args.proxy_steps, args.student_steps = 1, 200, 100, 100
        args.lams, args.temperatures, args.out = [0.0, 2.0], [1.5], args.out + "_quick"
    t0 = time.perf_counter()
    pairs_teach, pairs_d, pairs_down, pairs_t = arith.split_pairs(0, [6000, args.distill, 256, 1000])
    teacher, loss = fit(make_llama(64, seed=0), rows_of(pairs_teach), args.teacher_steps, args.lr, seed=0,
                        desc="teacher")
    teacher_greedy = arith.accuracy(pairs_t, sample(teacher, pairs_t, greedy=True))
    print(f"teacher: loss {loss:.4f}, greedy held-out accuracy {teacher_greedy:.4f} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    proxy, _ = fit(make_llama(32, seed=1), rows_of(pairs_d), args.proxy_steps, args.lr, seed=1, desc="proxy")
    proxy_greedy = arith.accuracy(pairs_t, sample(proxy, pairs_t, greedy=True))
    direction = downstream_direction(proxy, rows_of(pairs_down).tolist(), score_from=P)
    print(f"proxy: greedy held-out accuracy {proxy_greedy:.4f}", flush=True)
    runs = []
    for s in range(args.seeds):
        for lam in args.lams:
            runs.append(run_setting(args, teacher, pairs_d, pairs_t, s, lam=lam, proxy=proxy, direction=direction)
                        | {"sweep": "lam"})
        for temp in args.temperatures:
            runs.append(run_setting(args, teacher, pairs_d, pairs_t, s, temperature=temp) | {"sweep": "temperature"})
    lam_runs = [r for r in runs if r["sweep"] == "lam"]
    temp_runs = [r for r in runs if r["sweep"] == "temperature" or r["lam"] == 0]  # T = 1 is λ = 0
    res = {"setup": {"task": "two-digit addition with a chain-of-thought trace (distill.watermark.arith)",
                     "teacher_pairs": 6000, "distill_prompts": args.distill, "downstream_pairs": 256,
                     "test_pairs": 1000, "teacher_hidden": 64, "proxy_hidden": 32,
                     "student_hidden": args.student_hidden, "teacher_steps": args.teacher_steps,
                     "proxy_steps": args.proxy_steps, "student_steps": args.student_steps, "batch": 64,
                     "lr": args.lr, "eps": args.eps, "seeds": args.seeds, "lams": args.lams,
                     "temperatures": [1.0] + args.temperatures,
                     "teacher_params": sum(p.numel() for p in teacher.parameters()),
                     "teacher_greedy_test_acc": teacher_greedy, "proxy_greedy_test_acc": proxy_greedy,
                     "threads": torch.get_num_threads(), "seconds": round(time.perf_counter() - t0, 1),
                     "command": "OMP_NUM_THREADS=2 python benchmarks/antidistill.py" + (" --quick" if args.quick else "")},
           "runs": runs, "curve_lam": curve(lam_runs, "lam"), "curve_temperature": curve(temp_runs, "temperature")}
    write(res, args.out)


def write(ad: dict, out: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import defenses

    path = Path(out + ".json")
    res = json.loads(path.read_text()) if path.exists() else {}
    res["antidistill"] = ad
    atomic_json(path, res)
    plot(ad, Path(out).with_name(Path(out).name.replace("defenses", "antidistill") + ".png"))
    md = defenses.markdown(res) if "detection" in res else defenses.antidistill_markdown(ad)
    print(defenses.antidistill_markdown(ad))
    atomic_text(out + ".md", md)


if __name__ == "__main__":
    main()

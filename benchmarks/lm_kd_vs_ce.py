"""Benchmark: the point of it all — does distillation beat plain training, and is the student faster?

Part 1 runs `distill lm quickstart` (SmolLM2-135M-Instruct → a half-depth student; a KD copy and a
CE-only copy train for the same steps on the same windows of Python's pydoc_data topics) and
reports held-out perplexity, KL(teacher ‖ student), top-1 agreement, and the student's forward
speed-up over the teacher (teacher and student timed batch by batch, interleaved), plus the
end-to-end wall time of the quickstart. Targets (issue 3): the KD student wins on both KL and
perplexity; the half-depth student is ≥ 1.8× faster than the teacher.

Part 2 compares rules for choosing the student's layers (half depth: 15 of 30): every other
layer, 15 evenly spaced keeping the first and last, the first 15, the last 15 — held-out
perplexity and KL right after the cut and after a short KD run (--rule-steps steps of forward
KL from the live teacher, batch 2 × 128).

    nice -n 19 python benchmarks/lm_kd_vs_ce.py [--steps 30] [--rule-steps 10] [--skip-rules]
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
RULES = ["every-other", "15", "first-15", "last-15"]


def rules_part(teacher: str, args, tmp: Path) -> dict:
    from distill.lm.evaluate import LMEvalConfig, evaluate
    from distill.lm.quickstart import pydoc_corpus
    from distill.lm.student import build_student
    from distill.lm.train import LMTrainConfig
    from distill.lm.train import run as train

    train_txt, held = pydoc_corpus(tmp / "corpus")
    ev = dict(teacher=teacher, data=str(held), window=128, max_windows=args.eval_windows, gen_tokens=0)
    rows = {}
    for rule in args.rules:
        d = tmp / f"rule-{rule}"
        info = build_student(teacher, rule, d / "student")
        e0 = evaluate(LMEvalConfig(student=str(d / "student"), **ev))
        res = train(LMTrainConfig(teacher=teacher, student=str(d / "student"), data=str(train_txt), window=128,
                                  batch_size=2, steps=args.rule_steps, lr=3e-4, warmup=1, checkpoint_every=0,
                                  tensorboard=False, out=str(d / "kd")))
        e1 = evaluate(LMEvalConfig(student=res["model"], **ev))
        rows[rule] = {"kept_layers": info["kept_layers"], "start_perplexity": e0["student"]["perplexity"],
                      "start_kl": e0["kl_teacher_student"], "perplexity": e1["student"]["perplexity"],
                      "kl": e1["kl_teacher_student"]}
        print(f"rule {rule}: {rows[rule]}", flush=True)
    return {"steps": args.rule_steps, "batch": "2 × 128 tokens", "loss": "forward_kl, live teacher",
            "eval_tokens": e1["tokens"], "rows": rows}


def speed_part(teacher: str, args, tmp: Path) -> dict:
    """CPU seconds per forward of 4 × 128 tokens, and per greedy generation of 64 tokens (batch 1,
    16-token prompt, KV cache), teacher and half-depth student interleaved (CPU time, not wall time:
    on a shared machine the latter mostly measures the neighbours).

    The two differ on purpose: a forward over many tokens is bound by arithmetic, where the
    49,152 × 576 output layer, which the student keeps whole, weighs as much as 8 of SmolLM2's
    30 decoder layers; generating one token at a time is bound by per-layer work, which halves."""
    import statistics

    import torch

    from distill.lm.models import load_model
    from distill.lm.student import build_student

    build_student(teacher, args.layers, tmp / "speed-student")
    models = {"teacher": load_model(teacher).eval(), "student": load_model(str(tmp / "speed-student")).eval()}
    x = torch.randint(0, 49152, (4, 128), generator=torch.Generator().manual_seed(0))
    prompt, new = x[:1, :16], 64
    times = {k: [] for k in models}
    gen_times = {k: [] for k in models}
    with torch.inference_mode():
        for rep in range(args.speed_reps + 1):
            for name, m in models.items():
                c0 = time.process_time()
                m(x, use_cache=False)
                c1 = time.process_time()
                out = m.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new,
                                 min_new_tokens=new, do_sample=False, pad_token_id=0)
                c2 = time.process_time()
                assert out.shape[1] == prompt.shape[1] + new
                if rep:  # rep 0 warms up
                    times[name].append(c1 - c0)
                    gen_times[name].append(c2 - c1)
    med = {k: statistics.median(v) for k, v in times.items()}
    gen = {k: statistics.median(v) for k, v in gen_times.items()}
    return {"layers": args.layers, "tokens": x.numel(), "threads": torch.get_num_threads(),
            "cpu_seconds_median": med, "cpu_seconds_all": times, "speedup": med["teacher"] / med["student"],
            "generate": {"new_tokens": new, "prompt_tokens": prompt.shape[1], "batch": 1,
                         "cpu_seconds_median": gen, "cpu_seconds_all": gen_times,
                         "tokens_per_cpu_second": {k: new / v for k, v in gen.items()},
                         "speedup": gen["teacher"] / gen["student"]}}


def main() -> None:
    from distill.lm.models import resolve
    from distill.lm.quickstart import QuickstartConfig, run

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="smollm2")
    ap.add_argument("--steps", type=int, default=30, help="quickstart steps per student (its default: 30)")
    ap.add_argument("--layers", default="every-other", help="quickstart student layers (results of a rule other "
                    "than the default are kept under quickstart_<rule>)")
    ap.add_argument("--rule-steps", type=int, default=10)
    ap.add_argument("--eval-windows", type=int, default=8, help="held-out windows for the layer rules")
    ap.add_argument("--rules", nargs="+", default=RULES)
    ap.add_argument("--skip-rules", action="store_true")
    ap.add_argument("--skip-quickstart", action="store_true")
    ap.add_argument("--speed-reps", type=int, default=0, help="also time teacher vs student forwards (CPU s)")
    args = ap.parse_args()
    teacher = resolve(args.teacher)
    tmp = Path(tempfile.mkdtemp())
    out = {"teacher": teacher}
    old = RESULTS / "lm_kd_vs_ce.json"
    if not args.skip_quickstart:
        t0 = time.time()
        qs = run(QuickstartConfig(teacher=teacher, steps=args.steps, layers=args.layers, out=str(tmp / "quickstart")))
        qs["wall_seconds"] = round(time.time() - t0, 1)
        qs["load_average"] = os.getloadavg()
        qs["kd_wins"] = qs["kd"]["kl"] < qs["ce"]["kl"] and qs["kd"]["perplexity"] < qs["ce"]["perplexity"]
        out["quickstart" if args.layers == "every-other" else f"quickstart_{args.layers}"] = qs
        print(f"quickstart: {qs['wall_seconds']} s; KD {qs['kd']} CE {qs['ce']}", flush=True)
    if args.speed_reps:
        key = "forward_speed" if args.layers == "every-other" else f"forward_speed_{args.layers}"
        out[key] = sp = speed_part(teacher, args, tmp)
        print(f"forward speed: {sp}", flush=True)
    if not args.skip_rules:
        out["layer_rules"] = rules_part(teacher, args, tmp)
        out["layer_rules"]["load_average"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    if old.exists():  # parts not rerun keep their last figures (read at the end: the parts may run in parallel)
        last = json.loads(old.read_text())
        out.update({k: v for k, v in last.items() if k.startswith(("quickstart", "layer_rules", "forward_speed")) and k not in out})
    old.write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "lm_kd_vs_ce.md").write_text(markdown(out))
    print(markdown(out))


def markdown(r: dict) -> str:
    from distill.lm.quickstart import markdown as qs_markdown

    lines = []
    for key in sorted(k for k in r if k.startswith("quickstart")):
        q = r[key]
        lines += [f"## KD vs CE-only (`distill lm quickstart --layers {q['layers']}`)", "", qs_markdown(q),
                  f"KD wins on KL and perplexity: {q['kd_wins']}. Forward speed-up of the half-depth student: "
                  f"{q['kd']['forward_speedup']:.2f}× (target ≥ 1.8×). Quickstart wall time {q['wall_seconds']:.0f} s "
                  f"at load average {q['load_average'][0]:.1f} (2 shared cores).", ""]
    for key in sorted(k for k in r if k.startswith("forward_speed")):
        f = r[key]
        lines += ["## Forward speed, teacher vs half-depth student", "",
                  f"CPU seconds per forward of {f['tokens']} tokens ({f['threads']} thread, median, interleaved): "
                  f"teacher {f['cpu_seconds_median']['teacher']:.3f}, student (`{f['layers']}`) "
                  f"{f['cpu_seconds_median']['student']:.3f}: **{f['speedup']:.2f}×** (target ≥ 1.8×).", ""]
        if "generate" in f:
            g = f["generate"]
            lines += [f"Greedy generation of {g['new_tokens']} tokens (batch {g['batch']}, {g['prompt_tokens']}-token "
                      f"prompt, KV cache), CPU seconds, median: teacher {g['cpu_seconds_median']['teacher']:.3f} "
                      f"({g['tokens_per_cpu_second']['teacher']:.1f} tokens/s), student "
                      f"{g['cpu_seconds_median']['student']:.3f} ({g['tokens_per_cpu_second']['student']:.1f} tokens/s): "
                      f"**{g['speedup']:.2f}×**.", ""]
    if "layer_rules" in r:
        lr = r["layer_rules"]
        lines += ["## Which 15 of SmolLM2's 30 layers?", "",
                  f"Held-out {lr['eval_tokens']:,} tokens; after {lr['steps']} KD steps ({lr['batch']}, {lr['loss']}).", "",
                  "| rule | layers kept | perplexity at cut | KL at cut | perplexity after | KL after |",
                  "|---|---|---|---|---|---|"]
        for rule, x in lr["rows"].items():
            kept = x["kept_layers"]
            lines.append(f"| {rule} | {kept[0]}…{kept[-1]} ({len(kept)}) | {x['start_perplexity']:,.0f} | "
                         f"{x['start_kl']:.2f} | {x['perplexity']:,.0f} | {x['kl']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Benchmark: does a student trained on sparse targets end as close to the teacher as one trained on dense ones?

Three copies of the same student (cut from the embedded SmolLM2-135M-Instruct) train for the
same steps on the same windows of Python's pydoc_data topics (the training split), with
forward KL at T = 1 against:
  * dense   the live teacher's full distribution (49,152 logits per token);
  * top-k   a compact top-64 store (`distill lm capture --top-k 64`);
  * sampled a Sparse Logit Sampling store (`--targets-kind sampled --samples 64`);
  * hybrid  the top 8 exactly plus 32 draws from the rest (`--targets-kind hybrid --top-k 8 --samples 32`).
`--kinds` picks the sparse variants (dense always runs: every ratio is paired with it); a run of other
kinds than topk + sampled writes lm_sparse_quality_<kinds>.*.
Each student is then evaluated on the held-out topics: mean per-token KL(teacher ‖ student)
and perplexity. Target (issue 3): held-out KL within 2% of dense.

Budget (CPU, 2 shared cores): the default is a half-depth student (15 of 30 layers, evenly
spaced, first and last kept), batch 2 × 128 tokens, 30 steps (7,680 tokens per student) —
small; the figures say how the targets compare at equal compute, not what a long run reaches.

Seeds (``--seeds 0 1 2``): the stores cover steps × batch × (number of seeds) windows, and each
seed's three students train on the same random subset of them in the same order (the training
seed picks it), so the seeds differ in data, and each comparison is paired.

    nice -n 19 python benchmarks/lm_sparse_quality.py [--layers 15] [--steps 30] [--seeds 0 1 2]
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    from distill.lm.capture import CaptureConfig, capture
    from distill.lm.evaluate import LMEvalConfig, evaluate
    from distill.lm.models import resolve
    from distill.lm.quickstart import pydoc_corpus
    from distill.lm.student import build_student
    from distill.lm.train import LMTrainConfig
    from distill.lm.train import run as train

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="smollm2")
    ap.add_argument("--layers", default="15")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--top-k", type=int, default=64)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--hybrid-top-k", type=int, default=8)
    ap.add_argument("--hybrid-samples", type=int, default=32)
    ap.add_argument("--kinds", nargs="+", default=["topk", "sampled"], choices=["topk", "sampled", "hybrid"])
    ap.add_argument("--eval-windows", type=int, default=16)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--alpha", type=float, default=0.0, help="weight of cross-entropy on the text, the same in every "
                    "variant (results go to lm_sparse_quality_alpha<α>.*)")
    args = ap.parse_args()
    t_all = time.time()
    tmp = Path(tempfile.mkdtemp())
    train_txt, held_txt = pydoc_corpus(tmp / "corpus")
    teacher = resolve(args.teacher)
    build_student(teacher, args.layers, tmp / "student")
    import statistics

    n = args.steps * args.batch_size * len(args.seeds)  # each seed sees steps × batch of them, once each
    stores = {}
    kinds = tuple(args.kinds)
    for kind in kinds:
        t0 = time.time()
        hybrid = kind == "hybrid"
        m = capture(CaptureConfig(teacher=teacher, data=str(train_txt), targets_kind=kind,
                                  top_k=args.hybrid_top_k if hybrid else args.top_k,
                                  samples=args.hybrid_samples if hybrid else args.samples, window=args.window,
                                  max_windows=n, shard_windows=n, out=str(tmp / kind)))
        stores[kind] = {"bytes_per_token": round(m.bytes_per_token(), 1), "capture_seconds": round(time.time() - t0, 1)}
    base = LMTrainConfig(teacher=teacher, student=str(tmp / "student"), data=str(train_txt), window=args.window,
                         max_windows=n, batch_size=args.batch_size, steps=args.steps, lr=args.lr,
                         warmup=max(1, args.steps // 10), checkpoint_every=0, loss="forward_kl", ce_weight=args.alpha,
                         tensorboard=False)
    variants = {"dense": {}} | {kind: {"targets": (str(tmp / kind),), "data": ""} for kind in kinds}
    ev = dict(teacher=teacher, data=str(held_txt), window=args.window, max_windows=args.eval_windows, gen_tokens=0)
    start = evaluate(LMEvalConfig(student=str(tmp / "student"), **ev))
    rows = {"start": {"kl": start["kl_teacher_student"], "perplexity": start["student"]["perplexity"]}}
    per_seed = {}
    for seed in args.seeds:
        per_seed[seed] = {}
        for name, kw in variants.items():
            cfg = LMTrainConfig(**{**base.__dict__, **kw, "seed": seed, "out": str(tmp / f"run-{name}-{seed}")})
            res = train(cfg)
            e = evaluate(LMEvalConfig(student=res["model"], **ev))
            per_seed[seed][name] = {"kl": e["kl_teacher_student"], "perplexity": e["student"]["perplexity"],
                                    "top1_agreement": e["top1_agreement"], "train_seconds": res["seconds"]}
            print(f"seed {seed} {name}: held-out KL {e['kl_teacher_student']:.4f}, "
                  f"perplexity {e['student']['perplexity']:.1f}", flush=True)
        for name in kinds:
            per_seed[seed][name]["kl_vs_dense"] = per_seed[seed][name]["kl"] / per_seed[seed]["dense"]["kl"] - 1

    def mean_std(values):
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    for name in variants:
        runs = [per_seed[s][name] for s in args.seeds]
        rows[name] = {k: statistics.fmean(r[k] for r in runs) for k in ("kl", "perplexity", "top1_agreement",
                                                                       "train_seconds")}
        rows[name]["kl_std"] = mean_std([r["kl"] for r in runs])[1]
    for name in kinds:
        rows[name]["kl_vs_dense"], rows[name]["kl_vs_dense_std"] = mean_std(
            [per_seed[s][name]["kl_vs_dense"] for s in args.seeds])
        rows[name]["within_2pct"] = rows[name]["kl_vs_dense"] <= 0.02
        rows[name].update(stores[name])
    result = {
        "teacher": teacher, "student_layers": args.layers, "teacher_perplexity": start["teacher"]["perplexity"],
        "budget": {"steps": args.steps, "batch_size": args.batch_size, "window": args.window,
                   "tokens_per_student": args.steps * args.batch_size * args.window, "lr": args.lr,
                   "loss": "forward_kl, T = 1" + (f", + {args.alpha:g} × CE on the text" if args.alpha else "")},
        "top_k": args.top_k, "samples": args.samples, "hybrid_top_k": args.hybrid_top_k,
        "hybrid_samples": args.hybrid_samples, "kinds": list(kinds), "eval_tokens": start["tokens"],
        "target": "held-out KL within 2% of dense", "rows": rows, "seeds": args.seeds,
        "per_seed": {str(k): v for k, v in per_seed.items()},
        "load_average": os.getloadavg(), "seconds": round(time.time() - t_all, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    name = "lm_sparse_quality" + (f"_alpha{args.alpha:g}" if args.alpha else "") + (
        "" if kinds == ("topk", "sampled") else "_" + "_".join(kinds))
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    b = r["budget"]
    seeds = r.get("seeds", [0])
    n = len(seeds)
    lines = [f"Student: SmolLM2 layers `{r['student_layers']}`; {b['steps']} steps × {b['batch_size']} × {b['window']} "
             f"tokens ({b['tokens_per_student']:,} per student), {b['loss']}; held-out {r['eval_tokens']:,} tokens. "
             f"Teacher perplexity {r['teacher_perplexity']:.1f}. "
             + (f"Mean ± std over {n} seeds (each seed: its own subset of the training windows; "
                "\"vs dense\" is the mean of the per-seed paired ratios)." if n > 1 else "One seed."), "",
             "| targets | store bytes/token | held-out KL | vs dense | perplexity | top-1 agreement |",
             "|---|---|---|---|---|---|",
             f"| (before training) | | {r['rows']['start']['kl']:.4f} | | {r['rows']['start']['perplexity']:,.0f} | |"]
    kinds = tuple(r.get("kinds", ("topk", "sampled")))
    labels = {"dense": "dense (live teacher)", "topk": f"top-{r['top_k']}", "sampled": f"sampled ({r['samples']} draws)",
              "hybrid": f"hybrid (top-{r.get('hybrid_top_k')} + {r.get('hybrid_samples')} draws)"}
    for name, label in ((k, labels[k]) for k in ("dense", *kinds)):
        x = r["rows"][name]
        vs = "" if name == "dense" else f"{x['kl_vs_dense']:+.2%}" + (
            f" ± {x['kl_vs_dense_std']:.2%}" if x.get("kl_vs_dense_std") else "")
        size = "98,304 (fp16)" if name == "dense" else f"{x['bytes_per_token']}"
        kl = f"{x['kl']:.4f}" + (f" ± {x['kl_std']:.4f}" if x.get("kl_std") else "")
        lines.append(f"| {label} | {size} | {kl} | {vs} | {x['perplexity']:,.1f} | {x['top1_agreement']:.1%} |")
    if n > 1:
        lines += ["", "| seed | dense KL | " + " | ".join(f"{labels[k]} KL (vs dense)" for k in kinds) + " |",
                  "|---|---|" + "---|" * len(kinds)]
        for s_, x in r["per_seed"].items():
            lines.append(f"| {s_} | {x['dense']['kl']:.4f} | " + " | ".join(
                f"{x[k]['kl']:.4f} ({x[k]['kl_vs_dense']:+.2%})" for k in kinds) + " |")
    lines.append(f"\nTarget: {r['target']}. Load average {r['load_average'][0]:.1f}; {r['seconds']:.0f} s in all.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

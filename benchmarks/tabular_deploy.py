"""Benchmark: end-to-end latency of a deployed tabular student, raw row → probability, at batch 1.

For each bundled set (skipping those whose package is missing) and student (logistic, tree): a stratified
75/25 split; make_encoder fitted on the training rows; a random-forest teacher (the registry's ``rf``, 500
trees) distils into the student (DistilledClassifier, out-of-fold soft labels); then, on held-out rows one at a
time, the median seconds per call (after one warm-up) of:

- ``teacher``: make_pipeline(encoder, random forest).predict_proba(one-row DataFrame)
- ``student_sklearn``: make_pipeline(encoder, student) — what `distill tabular run` saves — on the same input
- ``fast_dict``: FastStudent.from_pipeline(that pipeline) on a dict (a JSON row)
- ``fast_frame``: the same FastStudent on the one-row DataFrame
- ``onnx``: the pipeline exported with export_onnx, run by OnnxStudent (onnxruntime, 1 thread) on a dict

Speed-ups are teacher latency / latency, all measured in the same run; ``max_abs_diff`` is the largest
probability difference from the student pipeline over the held-out rows. Target (issue 6): ≥ 26× end to end.
Writes benchmarks/results/tabular_deploy.{json,md}.

    python benchmarks/tabular_deploy.py [--repeats 200] [--datasets pima biopsy ...] [--cv 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import sklearn
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from distill.files import atomic_json, atomic_text
from distill.tabular.datasets import DATASETS, available, load_dataset, make_encoder
from distill.tabular.estimator import DistilledClassifier
from distill.tabular.export import OnnxStudent, export_onnx
from distill.tabular.fast import FastStudent
from distill.tabular.students import make

ROOT = Path(__file__).resolve().parents[1]
WAYS = ("teacher", "student_sklearn", "fast_dict", "fast_frame", "onnx")


def median_latency(predict, rows: list, repeats: int) -> float:
    """Median seconds of ``predict(rows[i % len(rows)])`` over ``repeats`` calls, after one warm-up."""
    predict(rows[0])
    times = []
    for r in range(repeats):
        row = rows[r % len(rows)]
        t0 = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_set(name: str, students: list[str], repeats: int, cv: int, seed: int, tmp: Path) -> list[dict]:
    d = load_dataset(name)
    tr, te = train_test_split(np.arange(len(d.y)), test_size=0.25, stratify=d.y, random_state=seed)
    X_tr, X_te, y_tr = d.X.iloc[tr], d.X.iloc[te], d.y[tr]
    encoder = make_encoder(X_tr).fit(X_tr)
    Z_tr = encoder.transform(X_tr)
    frames = [X_te.iloc[[i]] for i in range(len(X_te))]  # one-row DataFrames, built before timing
    dicts = X_te.to_dict("records")
    out, teacher_s = [], None
    for student in students:
        clf = DistilledClassifier(make("teacher", "rf", seed), make("student", student, seed), cv=cv,
                                  random_state=seed).fit(Z_tr, y_tr)
        if teacher_s is None:  # one teacher per set (the same random forest each time: same seed, same rows)
            teacher = make_pipeline(encoder, clf.teacher_)
            teacher_s = median_latency(teacher.predict_proba, frames, repeats)
        pipe = make_pipeline(encoder, clf.student_)
        fast = FastStudent.from_pipeline(pipe)
        onnx = OnnxStudent(export_onnx(pipe, X_te, tmp / f"{name}-{student}.onnx"))
        want = pipe.predict_proba(X_te)
        lat = {"teacher": teacher_s,
               "student_sklearn": median_latency(pipe.predict_proba, frames, repeats),
               "fast_dict": median_latency(fast.predict_proba, dicts, repeats),
               "fast_frame": median_latency(fast.predict_proba, frames, repeats),
               "onnx": median_latency(onnx.predict_proba, dicts, repeats)}
        out.append({"dataset": name, "student": student, "rows_test": len(X_te), "columns": int(d.X.shape[1]),
                    "encoded_features": int(Z_tr.shape[1]), "latency_s": lat,
                    "speedup_vs_teacher": {k: teacher_s / v for k, v in lat.items()},
                    "max_abs_diff": {"fast": float(np.abs(fast.predict_proba(X_te) - want).max()),
                                     "onnx": float(np.abs(onnx.predict_proba(X_te) - want).max())}})
        print(row_text(out[-1]), flush=True)
    return out


def row_text(r: dict) -> str:
    lat, sp = r["latency_s"], r["speedup_vs_teacher"]
    cells = [f"{lat[w] * 1e6:,.0f} µs ({sp[w]:,.0f}×)" if w != "teacher" else f"{lat[w] * 1e3:.2f} ms" for w in WAYS]
    return f"| {r['dataset']} | {r['student']} | " + " | ".join(cells) + \
        f" | {r['max_abs_diff']['fast']:.0e} | {r['max_abs_diff']['onnx']:.0e} |"


def markdown(res: dict) -> str:
    lines = [
        "# Deployed tabular students: end-to-end latency at batch 1 (raw row → probability)",
        "",
        f"Median of {res['repeats']} single-row calls on held-out rows, after one warm-up; speed-up = teacher "
        "latency / latency, same run. Teacher: make_encoder + random forest (500 trees). student_sklearn: the "
        "saved pipeline (make_encoder + student). fast: FastStudent (NumPy) on a dict / a one-row DataFrame. "
        "onnx: export_onnx + onnxruntime (1 thread) on a dict. Last two columns: largest |p − p_sklearn| on the "
        "held-out rows.",
        "",
        "| set | student | teacher | student_sklearn | fast (dict) | fast (DataFrame) | onnx (dict) | fast diff | "
        "onnx diff |",
        "|---|---|---|---|---|---|---|---|---|",
        *[row_text(r) for r in res["results"]],
        "",
        "Median speed-up over all rows: " + ", ".join(f"{w} {s:,.0f}×" for w, s in res["median_speedup"].items())
        + f". Target ≥ 26× end to end: {'met' if res['target_met'] else 'not met'} by fast (dict).",
        "",
        f"Machine: {res['machine']}; {res['seconds']:.0f} s in all.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="*", default=list(DATASETS))
    p.add_argument("--students", nargs="*", default=["logistic", "tree"])
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--cv", type=int, default=3, help="teacher folds for the out-of-fold soft labels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tabular_deploy"))
    args = p.parse_args(argv)
    t0 = time.time()
    results, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's convergence and feature-name warnings are not measured
        for name in args.datasets:
            if not available(name):
                print(f"skipping {name}: {DATASETS[name].needs} is not installed")
                skipped.append(name)
                continue
            results += bench_set(name, args.students, args.repeats, args.cv, args.seed, Path(tmp))
    med = {w: statistics.median(r["speedup_vs_teacher"][w] for r in results) for w in WAYS if w != "teacher"}
    res = {"repeats": args.repeats, "cv": args.cv, "seed": args.seed, "skipped": skipped, "results": results,
           "median_speedup": med, "min_speedup_fast_dict": min(r["speedup_vs_teacher"]["fast_dict"] for r in results),
           "target_met": all(r["speedup_vs_teacher"]["fast_dict"] >= 26 for r in results),
           "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
                      f"scikit-learn {sklearn.__version__}, onnxruntime {onnxruntime.__version__}",
           "seconds": time.time() - t0}
    atomic_json(Path(args.out).with_suffix(".json"), res)
    atomic_text(Path(args.out).with_suffix(".md"), markdown(res))
    print(markdown(res))
    return res


if __name__ == "__main__":
    main()

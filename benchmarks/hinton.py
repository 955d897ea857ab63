"""Benchmark: the full Hinton et al. (2015) reproduction on Fashion-MNIST (3 seeds).

Runs `distill experiment hinton --recipe recipes/hinton-fashion-mnist.yaml` (resumable:
rerunning continues from the checkpoints under its output folder), then copies its
results.json and results.md to benchmarks/results/hinton_fashion_mnist.{json,md}.

    python benchmarks/hinton.py                 # ~2.5 h on 2 cores (validation grid included)
    python benchmarks/hinton.py --quick         # the README demo's budget, for comparison

The packaged quick-mode teacher (src/distill/assets/fashion_mnist_cnn_teacher) is the
first seed's teacher of this run, exported with --export-teacher.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--export-teacher", action="store_true",
                    help="also refresh the packaged quick-mode teacher from seed 0")
    args = ap.parse_args()
    name = "hinton_fashion_mnist_quick" if args.quick else "hinton_fashion_mnist"
    out = ROOT / "runs" / name.replace("_", "-")  # the recipe's folder for the full run
    cmd = [sys.executable, "-m", "distill", "experiment", "hinton", "--out", str(out), "-v"]
    cmd += ["--quick"] if args.quick else ["--recipe", str(ROOT / "recipes" / "hinton-fashion-mnist.yaml")]
    if args.export_teacher:
        cmd += ["--export-teacher", str(ROOT / "src" / "distill" / "assets" / "fashion_mnist_cnn_teacher")]
    subprocess.run(cmd, check=True)
    RESULTS.mkdir(exist_ok=True)
    shutil.copy(out / "results.json", RESULTS / f"{name}.json")
    shutil.copy(out / "results.md", RESULTS / f"{name}.md")
    shutil.copy(out / "temperature.png", RESULTS / f"{name}.png")
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()

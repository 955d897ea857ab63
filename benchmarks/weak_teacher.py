"""Benchmark: `distill experiment weak-teacher --quick` (both paths), over seeds, timed.

Runs the experiment in a child process (resumable: a rerun on the same folder skips finished grid cells,
and adding seeds trains only the new ones), measures its wall and CPU time, then copies results.json,
results.md and gain.png to benchmarks/results/weak_teacher.{json,md,png} with the timings added.

    python benchmarks/weak_teacher.py                    # seed 0, ~15 min on 2 idle cores
    python benchmarks/weak_teacher.py --seeds 0 1 2      # three seeds (the README's figures)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", default=["0"])
    ap.add_argument("--out", default=str(ROOT / "runs" / "weak-teacher-quick"))
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "distill", "experiment", "weak-teacher", "--quick", "--seeds", *args.seeds,
           "--out", args.out, "-q"]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = Path(args.out)
    res = json.loads((out / "results.json").read_text())
    res["benchmark"] = {"command": " ".join(["distill", *cmd[3:]]), "wall_seconds": round(time.time() - t0, 1),
                        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                        "omp_num_threads": env["OMP_NUM_THREADS"], "load_average_after": os.getloadavg()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "weak_teacher.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    b = res["benchmark"]
    md = (out / "results.md").read_text() + (
        f"\nBenchmark: `{b['command']}`: {b['wall_seconds']:.0f} s wall, {b['cpu_seconds']:.0f} s CPU "
        f"(OMP_NUM_THREADS={b['omp_num_threads']}; load average after {b['load_average_after'][0]:.1f}: "
        "the 2 cores were shared, so wall time overstates an idle machine's).\n")
    (RESULTS / "weak_teacher.md").write_text(md)
    shutil.copy(out / "gain.png", RESULTS / "weak_teacher.png")
    print(md)


if __name__ == "__main__":
    main()

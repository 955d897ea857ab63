"""GPU checks (run by benchmarks/gpu.sh): loss speed vs TRL / Liger, one bf16 `lm train` step, eval timing.

Each part writes one JSON file into the work folder; ``merge`` joins them into
benchmarks/results/gpu.json. A part that fails (a missing package, an error) records the
error instead of its figures, so one missing piece never loses the others.

    python benchmarks/gpu.py losses WORK      # distill (default call, chunk None) vs TRL-style vs Liger
    python benchmarks/gpu.py train WORK       # tiny teacher/student made here, 1 step of lm train in bf16
    python benchmarks/gpu.py eval WORK        # lm eval on CUDA: synchronized forward and generation timing
    python benchmarks/gpu.py merge WORK OUT

Timing on CUDA: every measured region starts and ends with torch.cuda.synchronize() (kernels are
asynchronous; without it a timer measures launches), after one warm-up call; peak memory is
torch.cuda.max_memory_allocated after reset_peak_memory_stats, minus what was allocated before.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _write(work: Path, name: str, data: dict) -> None:
    tmp = work / f"{name}.json.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, work / f"{name}.json")  # atomic: a part killed by its timeout leaves no half file


# DISTILL_GPU_DEVICE=cpu and DISTILL_GPU_SHAPE="2 64 512" run the losses part on a CPU at a small
# shape: a dry run of this script's own code (no figures worth keeping; peak memory reads 0).
DEVICE = os.environ.get("DISTILL_GPU_DEVICE", "cuda")


def _cuda_timed(fn, reps: int):
    """(median seconds, extra peak GiB, last output) of fn() on CUDA, synchronized, after one warm-up."""
    import torch

    cuda = DEVICE == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    fn()
    sync()
    times, peaks, out = [], [], None
    for _ in range(reps):
        sync()
        base = torch.cuda.memory_allocated() if cuda else 0
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t0)
        peaks.append(((torch.cuda.max_memory_allocated() if cuda else 0) - base) / 1024**3)
    return statistics.median(times), max(peaks), out


def _trl_style_jsd(s, t, y, beta):
    """TRL's GKDTrainer.generalized_jsd_loss when trl is importable, else the same formula written out
    (TRL's code: log-mixture by logsumexp, kl_div(reduction='none'), mean over label != -100)."""
    import torch
    import torch.nn.functional as F

    try:
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from trl.experimental.gkd import GKDTrainer

        return GKDTrainer.generalized_jsd_loss(s, t, labels=y, beta=beta)
    except Exception:  # noqa: BLE001 - any import problem: use the written-out reference
        ls, lt = F.log_softmax(s, -1), F.log_softmax(t, -1)
        b = torch.tensor(beta, dtype=ls.dtype, device=ls.device)
        m = torch.logsumexp(torch.stack([ls + torch.log(1 - b), lt + torch.log(b)]), dim=0)
        jsd = b * F.kl_div(m, lt, reduction="none", log_target=True) + (1 - b) * F.kl_div(
            m, ls, reduction="none", log_target=True)
        mask = y != -100
        return jsd[mask].sum() / mask.sum()


def losses(work: Path) -> None:
    import torch

    from distill.losses import auto_chunk_size, generalized_jsd

    B, L, V = map(int, os.environ.get("DISTILL_GPU_SHAPE", "4 512 49152").split())
    beta, reps = 0.5, 5
    g = torch.Generator(device=DEVICE).manual_seed(0)
    out = {"shape": [B, L, V], "beta": beta, "reps": reps,
           "device": torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE,
           "auto_chunk_size": auto_chunk_size(V, B * L, device=DEVICE), "runs": {},
           "note": "bfloat16: TRL's loss computes in bf16 and distill in fp32, so their differences there are "
                   "the reference's rounding; fp32 is the agreement check"}
    try:
        import trl  # noqa: F401

        out["trl"] = "trl " + trl.__version__
    except Exception:  # noqa: BLE001
        out["trl"] = "not importable: the TRL formula written out (see _trl_style_jsd)"
    for dtype in (torch.float32, torch.bfloat16):
        s = torch.randn(B, L, V, device=DEVICE, generator=g).to(dtype).requires_grad_()
        t = (torch.randn(B, L, V, device=DEVICE, generator=g) * 2).to(dtype)
        y = torch.zeros(B, L, dtype=torch.long, device=DEVICE)
        impls = {
            "distill_default": lambda: generalized_jsd(s, t, beta=beta, labels=y),
            "distill_one_pass": lambda: generalized_jsd(s, t, beta=beta, labels=y, chunk_size=None),
            "trl_style": lambda: _trl_style_jsd(s, t, y, beta),
        }
        try:
            from liger_kernel.transformers.jsd import LigerJSD

            liger = LigerJSD(beta=beta)
            # Liger takes (BT, V) log-probs, student first; at β = 0.5 the JSD is symmetric, so its
            # convention for β cannot differ from ours here.
            impls["liger_triton"] = lambda: liger(s.float().log_softmax(-1).view(-1, V),
                                                  t.float().log_softmax(-1).view(-1, V))
        except Exception as e:  # noqa: BLE001
            out["liger"] = f"not importable: {type(e).__name__}: {e}"
        res = {}
        for name, fn in impls.items():
            def step(fn=fn):
                s.grad = None
                loss = fn()
                loss.backward()
                return loss.detach().float().item(), s.grad.detach().float().clone()

            try:
                sec, peak, (value, grad) = _cuda_timed(step, reps)
                res[name] = {"median_seconds": sec, "extra_peak_gib": peak, "loss": value, "_grad": grad}
            except Exception as e:  # noqa: BLE001
                res[name] = {"error": f"{type(e).__name__}: {e}"}
            if DEVICE == "cuda":
                torch.cuda.empty_cache()
        ref = res.get("trl_style", {})
        for r in res.values():
            if "_grad" in r and "_grad" in ref:
                r["loss_rel_diff_vs_trl_style"] = abs(r["loss"] - ref["loss"]) / abs(ref["loss"])
                r["grad_rel_diff_norm_vs_trl_style"] = ((r["_grad"] - ref["_grad"]).norm() / ref["_grad"].norm()).item()
            if "median_seconds" in r and "median_seconds" in ref:
                r["time_ratio_vs_trl_style"] = r["median_seconds"] / ref["median_seconds"]
                r["extra_peak_memory_ratio_vs_trl_style"] = r["extra_peak_gib"] / max(ref["extra_peak_gib"], 1e-12)
        for r in res.values():
            r.pop("_grad", None)
        out["runs"][str(dtype).replace("torch.", "")] = res
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
    _write(work, "losses", out)


def _tiny_models(work: Path) -> tuple[Path, Path, Path]:
    """A 4-layer tiny Llama teacher (tokenizer trained here), its every-other-layer student, a corpus:
    nothing is downloaded (the GPU machine has no network)."""
    sys.path.insert(0, str(ROOT))
    from distill.lm.student import build_student
    from tests.lm.tiny import TEXT, make_llama, make_tokenizer

    teacher, student, corpus = work / "teacher", work / "student", work / "corpus.txt"
    if not (teacher / "config.json").exists():
        make_llama(teacher, make_tokenizer(TEXT), layers=4)
    if not (student / "config.json").exists():
        build_student(str(teacher), "every-other", student)
    corpus.write_text("\n\n".join(TEXT * 4))
    return teacher, student, corpus


def _cli(args: list[str], timeout: int) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "distill", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)
    return time.perf_counter() - t0, proc


def train(work: Path) -> None:
    import csv

    teacher, student, corpus = _tiny_models(work)
    out = work / "lm_train"
    seconds, proc = _cli(["lm", "train", "--teacher", str(teacher), "--student", str(student), "--data", str(corpus),
                          "--window", "64", "--batch-size", "4", "--steps", "1", "--warmup", "1",
                          "--mixed-precision", "bf16", "--loss", "jsd", "--out", str(out)], timeout=240)
    res = {"command": "lm train --steps 1 --mixed-precision bf16 --loss jsd (tiny Llama, window 64, batch 4)",
           "returncode": proc.returncode, "wall_seconds_incl_startup": seconds}
    if proc.returncode == 0:
        row = next(csv.DictReader(open(out / "metrics.csv")))
        res.update({k: float(row[k]) for k in ("loss", "divergence", "seconds")})
        res["finite"] = all(map(lambda v: v == v and abs(v) != float("inf"), (res["loss"], res["divergence"])))
    else:
        res["stderr_tail"] = proc.stderr[-3000:]
    _write(work, "train", res)


def evaluate(work: Path) -> None:
    teacher, student, corpus = _tiny_models(work)
    seconds, proc = _cli(["lm", "eval", "--teacher", str(teacher), "--student", str(student), "--data", str(corpus),
                          "--window", "64", "--max-windows", "32", "--batch-size", "8", "--gen-tokens", "32",
                          "--json"], timeout=240)
    res = {"command": "lm eval --window 64 --max-windows 32 --batch-size 8 --gen-tokens 32 (tiny Llama, CUDA)",
           "returncode": proc.returncode, "wall_seconds_incl_startup": seconds, "synchronized": True}
    if proc.returncode == 0:
        res["result"] = json.loads(proc.stdout[proc.stdout.index("{"):])  # the --json document
    else:
        res["stderr_tail"] = proc.stderr[-3000:]
    _write(work, "eval", res)


def merge(work: Path, out: Path) -> None:
    import platform

    result = {"machine": {"platform": platform.platform(), "python": platform.python_version()}}
    try:
        import torch

        result["machine"].update(torch=torch.__version__, cuda=torch.version.cuda,
                                 gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    except Exception as e:  # noqa: BLE001
        result["machine"]["torch"] = f"not importable: {e}"
    smi = work / "nvidia-smi.txt"
    if smi.exists():
        result["machine"]["nvidia_smi"] = smi.read_text().strip().splitlines()
    for part in ("losses", "train", "eval"):
        f = work / f"{part}.json"
        log = work / f"{part}.log"
        if f.exists():
            result[part] = json.loads(f.read_text())
        else:
            result[part] = {"error": "did not finish (timeout or crash)",
                            "log_tail": log.read_text()[-3000:] if log.exists() else None}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")


def main() -> None:
    cmd, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    if cmd == "merge":
        merge(work, Path(sys.argv[3]))
        return
    try:
        {"losses": losses, "train": train, "eval": evaluate}[cmd](work)
    except Exception:
        _write(work, cmd, {"error": traceback.format_exc()[-3000:]})
        raise


if __name__ == "__main__":
    main()

"""Benchmark: throughput of the HTTP teacher client against a fixed-latency endpoint.

The endpoint (distill.serve.fake, in its own process, as a real endpoint would be) answers each chat
request after exactly LATENCY seconds and serves at most CAPACITY requests at once, so it can answer at
most CAPACITY / LATENCY requests per second: its *capacity*. The client (HTTPTeacher + run_chats, the
path `distill docs generate` uses) sends N requests at concurrency 1, 8 and 32 — and once more at 32
through the SQLite recorder — and we report requests/s achieved, as a share of the endpoint's capacity
and of the concurrency's own ceiling (concurrency / LATENCY), plus the client's CPU time per request and
the latency the client saw (LATENCY + transport + scheduling). Steady state: each run first sends one
warm-up round on the same client (connections opened), then times N = ROUNDS × concurrency requests.
Target: ≥ 90% of capacity at concurrency 32 (capacity 32).

    python benchmarks/teacher_client.py [--latency 1.0] [--capacity 32] [--rounds 20] [--stress-latency 0.25 0.05]

Writes benchmarks/results/teacher_client.json and .md.
"""

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distill.teachers import RecordedTeacher, arun_chats
from distill.teachers.http import HTTPTeacher

RESULTS = Path(__file__).parent / "results"


def start_endpoint(latency: float, capacity: int):
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    p = subprocess.Popen([sys.executable, "-m", "distill.serve.fake", "--latency", str(latency), "--capacity",
                          str(capacity)], stdout=subprocess.PIPE, text=True, env=env)
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        p.kill()
        raise RuntimeError(f"fake endpoint did not start: {line!r}")
    return p, f"http://127.0.0.1:{int(line.split()[1])}"


def measure(url: str, concurrency: int, n: int, latency: float, capacity: int, recorded: bool) -> dict:
    """Steady-state throughput: one warm-up round opens the connections, then n requests are timed."""
    teacher = HTTPTeacher(url, model="fake-teacher", timeout=60, max_connections=max(64, 2 * concurrency))
    client = RecordedTeacher(teacher, Path(tempfile.mkdtemp()) / "calls.sqlite") if recorded else teacher
    warm = [[{"role": "user", "content": f"warm-up {i}"}] for i in range(concurrency)]
    reqs = [[{"role": "user", "content": f"question {i} at concurrency {concurrency}"}] for i in range(n)]

    async def go():
        await arun_chats(client, warm, concurrency=concurrency, progress=False)
        cpu0, t0 = time.process_time(), time.perf_counter()
        res = await arun_chats(client, reqs, concurrency=concurrency, progress=False)
        out = res, time.perf_counter() - t0, time.process_time() - cpu0
        await teacher.aclose()
        return out

    res, wall, cpu = asyncio.run(go())
    assert [c.text for c in res] == [f"echo: question {i} at concurrency {concurrency}" for i in range(n)]
    lat = sorted(c.latency_s for c in res)
    rps = n / wall
    cap = capacity / latency
    return {"latency_s": latency, "capacity": capacity, "capacity_rps": cap, "concurrency": concurrency,
            "recorded": recorded, "requests": n, "seconds": round(wall, 3), "requests_per_s": round(rps, 2),
            "fraction_of_capacity": round(rps / cap, 4),
            "fraction_of_concurrency_ceiling": round(rps / (min(concurrency, capacity) / latency), 4),
            "client_cpu_ms_per_request": round(1000 * cpu / n, 3),
            "observed_latency_ms_p50_p90": [round(1000 * lat[len(lat) // 2], 1), round(1000 * lat[int(len(lat) * 0.9)], 1)],
            "retries": sum(teacher.stats.retries.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=float, default=1.0,
                    help="endpoint seconds per request (a short LLM answer; generation calls take seconds)")
    ap.add_argument("--capacity", type=int, default=32, help="requests the endpoint serves at once")
    ap.add_argument("--rounds", type=int, default=20, help="requests per run = rounds × concurrency")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--stress-latency", type=float, nargs="*", default=[0.25, 0.05],
                    help="harder endpoints: same capacity, shorter latency, so the client's own cost shows")
    args = ap.parse_args()
    rows = []
    load_before = os.getloadavg()[0]
    for latency in [args.latency] + list(args.stress_latency):
        proc, url = start_endpoint(latency, args.capacity)
        try:
            measure(url, 8, 16, latency, args.capacity, False)  # warm-up: imports
            runs = [(c, False) for c in args.concurrency] + [(max(args.concurrency), True)]
            for c, rec in runs:
                r = measure(url, c, args.rounds * c, latency, args.capacity, rec)
                rows.append(r)
                print(f"latency {latency}s capacity {r['capacity_rps']:.0f}/s, concurrency {c}"
                      f"{' recorded' if rec else ''}: {r['requests_per_s']:.1f} req/s = "
                      f"{r['fraction_of_capacity']:.1%} of capacity, {r['fraction_of_concurrency_ceiling']:.1%} "
                      f"of c/latency; client CPU {r['client_cpu_ms_per_request']} ms/request", flush=True)
        finally:
            proc.kill()
            proc.wait()
    main_row = next(r for r in rows if r["latency_s"] == args.latency and r["concurrency"] == 32 and not r["recorded"])
    result = {"benchmark": "teacher_client", "target": "≥ 90% of capacity at concurrency 32",
              "met": main_row["fraction_of_capacity"] >= 0.9, "rows": rows,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other sessions)",
              "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
              "nice": os.nice(0),
              "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "teacher_client.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# HTTP teacher client throughput", "",
             f"Fake endpoint in its own process: fixed latency, at most {args.capacity} requests at once; "
             "capacity = requests at once / latency. Client: HTTPTeacher + run_chats (recorded: through the "
             f"SQLite RecordedTeacher). {result['machine']}, load average {result['load_average_1min'][0]} → "
             f"{result['load_average_1min'][1]} during the run, benchmark at nice {result['nice']}; {result['date']}.", "",
             "| latency | capacity (req/s) | concurrency | recorded | requests | req/s | of capacity "
             "| of c/latency | client CPU ms/req | latency seen p50 / p90 (ms) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['latency_s']} s | {r['capacity_rps']:.0f} | {r['concurrency']} | "
                     f"{'yes' if r['recorded'] else 'no'} | {r['requests']} | {r['requests_per_s']:.1f} | "
                     f"{r['fraction_of_capacity']:.1%} | {r['fraction_of_concurrency_ceiling']:.1%} | "
                     f"{r['client_cpu_ms_per_request']} | {r['observed_latency_ms_p50_p90'][0]} / "
                     f"{r['observed_latency_ms_p50_p90'][1]} |")
    lines += ["", f"Target ≥ 90% of capacity at concurrency 32 (latency {args.latency} s): "
              f"{main_row['fraction_of_capacity']:.1%} — {'met' if result['met'] else 'NOT met'}."]
    (RESULTS / "teacher_client.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

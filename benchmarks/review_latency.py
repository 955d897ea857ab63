"""How fast the review page answers as the data set grows: start-up (load + open the store), an item
page, a decision (POST, committed with fsync), and the export, on synthetic data sets of 1k–50k items.

    nice -n 19 python benchmarks/review_latency.py     # writes benchmarks/results/review_latency.{json,md}

Requests go through FastAPI's in-process TestClient (no network), so the figures are the server's own
time per request; a browser adds its page rendering on top.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fastapi.testclient import TestClient  # noqa: E402

from distill.docs.export import to_record  # noqa: E402
from distill.review.app import csrf_token  # noqa: E402
from distill.review.export import export  # noqa: E402
from distill.review.run import ReviewConfig, build  # noqa: E402

SIZES = (1_000, 10_000, 50_000)
TOKEN = "bench"


def write_dataset(root: Path, n: int) -> Path:
    ds = root / f"ds{n}"
    ds.mkdir()
    rng = random.Random(0)
    n_chunks = max(1, n // 5)
    chunks = [{"id": f"c{i}", "source": f"guide/p{i % 40}.md", "section": f"Section {i % 60}",
               "text": " ".join(f"word{rng.randrange(5000)}" for _ in range(300))} for i in range(n_chunks)]
    with open(ds / "train.jsonl", "w") as tr, open(ds / "eval.jsonl", "w") as ev:
        for i in range(n):
            c = chunks[i % n_chunks]
            ans = c["text"][100:220]
            rec = to_record({"split": "train" if i % 10 else "eval", "question": f"Question {i} about {c['section']}?",
                             "reasoning": "Because the section says so." if i % 3 == 0 else "", "answer": ans,
                             "chunk_id": c["id"], "source": c["source"], "section": c["section"],
                             "support": [100, 220], "support_share": rng.random()}, "Bench")
            (tr if rec["split"] == "train" else ev).write(json.dumps(rec) + "\n")
    (ds / "chunks.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chunks))
    return ds


def ms(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"median_ms": round(1000 * statistics.median(xs), 1), "p95_ms": round(1000 * xs[int(0.95 * (len(xs) - 1))], 1)}


def bench(n: int, tmp: Path, requests: int = 60) -> dict:
    ds = write_dataset(tmp, n)
    t = time.perf_counter()
    app = build(ReviewConfig(dataset=str(ds)), TOKEN)
    startup = time.perf_counter() - t
    c = TestClient(app)
    c.get(f"/?token={TOKEN}")
    ids = [it["id"] for it in app.state.dataset.items]
    rng = random.Random(1)
    get, post, filtered = [], [], []
    for item in rng.sample(ids, requests):
        t = time.perf_counter()
        assert c.get(f"/?item={item}").status_code == 200
        get.append(time.perf_counter() - t)
        t = time.perf_counter()
        r = c.post("/decide", data={"csrf": csrf_token(TOKEN), "item": item, "version": "0",
                                    "action": rng.choice(["approve", "reject"])}, follow_redirects=False)
        assert r.status_code == 303
        post.append(time.perf_counter() - t)
    for _ in range(requests // 3):
        t = time.perf_counter()
        assert c.get("/?status=rejected&section=Section%207").status_code == 200
        filtered.append(time.perf_counter() - t)
    t = time.perf_counter()
    export(app.state.dataset, app.state.store, tmp / f"out{n}")
    exp = time.perf_counter() - t
    app.state.store.close()
    return {"items": n, "startup_s": round(startup, 2), "item_page": ms(get), "decision_post": ms(post),
            "filtered_page": ms(filtered), "export_s": round(exp, 2)}


def markdown(rows: list[dict]) -> str:
    lines = ["| items | start-up | item page (median / p95) | decision POST (median / p95) | filtered page (median) | export |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['items']:,} | {r['startup_s']} s | {r['item_page']['median_ms']} / {r['item_page']['p95_ms']} ms "
                     f"| {r['decision_post']['median_ms']} / {r['decision_post']['p95_ms']} ms "
                     f"| {r['filtered_page']['median_ms']} ms | {r['export_s']} s |")
    return "\n".join(lines) + "\n"


def main() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(n, Path(tmp)) for n in SIZES]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "review_latency.json").write_text(json.dumps(rows, indent=2))
    md = markdown(rows)
    (out / "review_latency.md").write_text(md)
    print(md)
    return rows


if __name__ == "__main__":
    main()

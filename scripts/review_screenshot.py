"""Regenerate docs/images/review.png: the review page on a small demo data set, in headless Chromium.

    PYTHONPATH=src python scripts/review_screenshot.py [--out docs/images/review.png]

Needs `pip install playwright` and Debian's `chromium` (/usr/bin/chromium); never downloads a browser.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from pathlib import Path

from distill.docs.export import to_record

CHUNK = {"id": "c1", "source": "guide/auth.md", "section": "Auth > Keys",
         "text": "Every request must send the API key in the X-Api-Key header. Keys expire after 90 days and "
                 "must then be rotated from the console.\n\nAn expired key returns HTTP 401 with the code "
                 "key_expired. A revoked key returns HTTP 403 with the code key_revoked. Rotating a key does not "
                 "revoke the old one until its expiry date."}
ITEMS = [
    ("How long does an API key stay valid?", "", "Keys expire after 90 days and must then be rotated from the console.", 1.0),
    ("What does the API answer when a key has expired?",
     "The section lists the error for an expired key separately from a revoked one; the expired case is HTTP 401.",
     "HTTP 401 with the code key_expired.", 0.72),
    ("Does rotating a key revoke the old key at once?", "", "No: the old key stays valid until its expiry date.", 0.55),
    ("Which header carries the key?", "", "<script>alert(1)</script>", 0.0),
]


def demo_dataset(root: Path) -> Path:
    ds = root / "dataset"
    ds.mkdir(parents=True)
    recs = []
    for n, (q, why, a, share) in enumerate(ITEMS):
        s = CHUNK["text"].find(a.split(" with")[0].removeprefix("No: "))
        span = [s, s + len(a)] if s >= 0 and n < 2 else [0, 0]
        if n == 1:
            s = CHUNK["text"].find("An expired key")
            span = [s, CHUNK["text"].find("key_expired.") + len("key_expired.")]
        recs.append(to_record({"split": "train", "question": q, "reasoning": why, "answer": a, "chunk_id": "c1",
                               "source": CHUNK["source"], "section": CHUNK["section"], "support": span,
                               "support_share": share}, "Acme API"))
    (ds / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (ds / "eval.jsonl").write_text("")
    (ds / "chunks.jsonl").write_text(json.dumps(CHUNK) + "\n")
    (ds / "dataset.json").write_text(json.dumps({"product": "Acme API"}))
    return ds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images/review.png")
    args = ap.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from distill.review.run import ReviewConfig, build
    from distill.serve.server import bind

    with tempfile.TemporaryDirectory() as tmp:
        ds = demo_dataset(Path(tmp))
        app = build(ReviewConfig(dataset=str(ds), out="work/dataset-reviewed"), "demo")
        ids = [it["id"] for it in app.state.dataset.items]
        app.state.store.decide(ids[0], "approved", 0)
        sock = bind("127.0.0.1", 0)
        srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True).start()
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = b.new_page(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
            page.goto(f"{base}?token=demo&item={ids[1]}")
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            b.close()
        srv.should_exit = True
        app.state.store.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

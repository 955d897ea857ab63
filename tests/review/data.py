"""A tiny data set folder in the format of distill.docs.export, written by hand for the review tests:
four ordinary items, two whose answers are script injections, one unanswerable, over three chunks."""

from __future__ import annotations

import json
from pathlib import Path

from distill.docs.export import to_record

XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]

CHUNKS = [
    {"id": "c1", "source": "guide/auth.md", "section": "Auth",
     "text": "Every request must send the API key in the X-Api-Key header. Keys expire after 90 days."},
    {"id": "c2", "source": "guide/limits.rst", "section": "Limits",
     "text": "Each key may make 100 requests per second. Above that the API answers 429 <b>and</b> sets Retry-After."},
    {"id": "c3", "source": "api.html", "section": "Upload",
     "text": "Files up to 50 MB are accepted by the upload endpoint."},
]


def _item(chunk, question, answer, split="train", kind="grounded", reasoning="", share=1.0):
    text = chunk["text"]
    s = text.find(answer)
    support = [s, s + len(answer)] if s >= 0 else [0, 0]
    return {"split": split, "kind": kind, "question": question, "reasoning": reasoning, "answer": answer,
            "chunk_id": chunk["id"], "source": chunk["source"], "section": chunk["section"], "support": support,
            "support_share": share}


def items() -> list[dict]:
    c1, c2, c3 = CHUNKS
    raw = [
        _item(c1, "Which header carries the API key?", "Every request must send the API key in the X-Api-Key header."),
        _item(c1, "How long do keys last?", "Keys expire after 90 days.", reasoning="The docs state a lifetime."),
        _item(c2, "What is the rate limit?", "Each key may make 100 requests per second."),
        _item(c2, "What happens above the limit?", "Above that the API answers 429 <b>and</b> sets Retry-After.",
              split="eval"),
        _item(c3, "Run this <script>alert(1)</script>?", XSS[0], share=0.0),
        _item(c3, "And this?", XSS[1], split="eval", share=0.5),
        _item(c3, "Does the upload endpoint support SAML?", "The documentation does not say.", kind="unanswerable",
              split="eval", share=None),
    ]
    for r in raw:
        if r["support_share"] is None:
            del r["support_share"]
    return [to_record(r, "Acme API") for r in raw]


def make_dataset(root: Path) -> Path:
    ds = root / "dataset"
    ds.mkdir(parents=True)
    recs = items()
    for split in ("train", "eval"):
        (ds / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs if r["split"] == split))
    (ds / "chunks.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CHUNKS))
    (ds / "dataset.json").write_text(json.dumps({"format_version": 1, "product": "Acme API", "items": len(recs)}))
    (ds / "README.md").write_text("# Documentation Q&A data set: Acme API\n")
    return ds

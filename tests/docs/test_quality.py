import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from distill.docs.chunking import Chunk, chunk_id
from distill.docs.quality import REFUSAL, QualityConfig, filter_items, lexical_support, split_of

LABELLED = json.loads((Path(__file__).parent / "data" / "labelled_triples.json").read_text())


def _chunks():
    return {name: Chunk(chunk_id(t), f"{name}.rst", (name,), t) for name, t in LABELLED["chunks"].items()}


def _items():
    ch = _chunks()
    return [{"question": t["question"], "answer": t["answer"], "reasoning": "", "chunk_id": ch[t["chunk"]].id,
             "label": t["label"]} for t in LABELLED["triples"]]


def bow_embedder(texts):
    """A deterministic stand-in for MiniLM: hashed bag of content words, unit length."""
    from distill.docs.text import content_words

    out = np.zeros((len(texts), 256), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in content_words(t):
            out[i, zlib.crc32(w.encode()) % 256] += 1
    n = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(n == 0, 1, n)


def test_lexical_grounding_on_the_hand_labelled_set():
    ch = {c.id: c for c in _chunks().values()}
    cfg = QualityConfig(grounding="lexical", max_per_chunk=100, unanswerable_fraction=0, dedup_similarity=1.0)
    kept, rejected, _ = filter_items(_items(), [], ch, cfg)
    removed = [r for r in rejected if r["step"] == "grounding"]
    tp = sum(r["label"] == "bad" for r in removed)
    bad = sum(t["label"] == "bad" for t in LABELLED["triples"])
    # Measured when the set was written: all 11 rejections are bad answers (precision 1.0); 11 of 12 bad
    # answers caught (recall 0.92) — the miss swaps two details for plausible ones using the chunk's words.
    assert tp / len(removed) == 1.0
    assert tp / bad >= 11 / 12
    assert sum(k["label"] == "good" for k in kept) == 16  # no good answer lost


def test_support_span_points_at_the_supporting_sentence():
    text = LABELLED["chunks"]["auth"]
    share, (s, e) = lexical_support("Keys expire after 90 days.", text)
    assert share == 1.0 and "90 days" in text[s:e] and len(text[s:e]) < len(text)


def test_dedup_coverage_cap_and_order_of_preference():
    c = Chunk("c1", "a.md", ("A",), "Tokens expire after 90 days. Keys go in the X-Api-Key header. Limits are 100 per second.")
    items = [{"question": f"Question number {i} about keys?", "answer": a, "reasoning": "", "chunk_id": "c1"}
             for i, a in enumerate(["Tokens expire after 90 days.", "Keys go in the X-Api-Key header.",
                                    "Limits are 100 per second.", "Tokens expire after 90 days, keys go in the header.",
                                    "Keys expire; limits apply."])]
    items.append(dict(items[0]))  # exact duplicate question
    cfg = QualityConfig(grounding="lexical", max_per_chunk=3, unanswerable_fraction=0, dedup_similarity=0.9)
    kept, rejected, report = filter_items(items, [], {"c1": c}, cfg)
    assert report["rejected_by_step"]["dedup"] == 1
    assert len(kept) == 3 and report["rejected_by_step"]["coverage"] == 2
    assert all(k["support_share"] == 1.0 for k in kept)  # the best-supported are the ones kept


def test_unanswerable_questions_checked_against_every_chunk_and_capped():
    ch = {c.id: c for c in _chunks().values()}
    grounded = [it for it in _items() if it["label"] == "good"]
    cands = [{"question": "Which header carries the API key in a request?", "chunk_id": grounded[0]["chunk_id"]}]
    cands += [{"question": f"Does the product support single sign-on with provider {i}?",
               "chunk_id": grounded[0]["chunk_id"]} for i in range(20)]
    cfg = QualityConfig(grounding="lexical", max_per_chunk=100, unanswerable_fraction=0.2, dedup_similarity=1.0)
    kept, rejected, report = filter_items(grounded, cands, ch, cfg)
    una = [k for k in kept if k["kind"] == "unanswerable"]
    assert len(una) == round(0.2 / 0.8 * len(grounded)) == report["steps"]["unanswerable"]["kept"]
    assert all(k["answer"] == REFUSAL and "header" not in k["question"] for k in una)
    assert any("may be answered by chunk" in r["reason"] for r in rejected)
    assert abs(len(una) / len(kept) - 0.2) < 0.05


def test_split_is_by_chunk_and_deterministic():
    ids = [f"chunk{i}" for i in range(2000)]
    splits = [split_of(i, 0.15) for i in ids]
    assert splits == [split_of(i, 0.15) for i in ids]
    assert 0.12 < splits.count("eval") / len(ids) < 0.18
    ch = {c.id: c for c in _chunks().values()}
    kept, _, _ = filter_items(_items(), [], ch, QualityConfig(grounding="none", max_per_chunk=100,
                                                               unanswerable_fraction=0, eval_fraction=0.5))
    for cid in {k["chunk_id"] for k in kept}:
        assert len({k["split"] for k in kept if k["chunk_id"] == cid}) == 1


def test_embedding_grounding_rejects_pairs_about_something_else():
    ch = _chunks()
    good = [it for it in _items() if it["label"] == "good"]
    # an answer about API keys filed under the `pass` chunk: true somewhere, but not what its chunk says
    stray = {"question": "Which header carries the API key?", "answer": "The X-Api-Key header.", "reasoning": "",
             "chunk_id": ch["pass"].id, "label": "stray"}
    cfg = QualityConfig(grounding="embedding", min_similarity=0.3, max_per_chunk=100, unanswerable_fraction=0,
                        dedup_similarity=0.99)
    kept, rejected, report = filter_items(good + [stray], [], {c.id: c for c in ch.values()}, cfg, embed=bow_embedder)
    assert report["steps"]["grounding"]["method"] == "embedding"
    assert [r["label"] for r in rejected] == ["stray"] and "similarity" in rejected[0]["reason"]
    assert len(kept) == len(good) and all(0.3 <= k["support_similarity"] <= 1.0 for k in kept)


@pytest.mark.parametrize("bad", [{"question": "short", "answer": "fine answer"},
                                 {"question": "A proper question?", "answer": ""},
                                 {"question": "A proper question?", "answer": "a proper question?"}])
def test_structure_rejects_with_reason(bad):
    c = Chunk("c", "s", (), "text")
    kept, rejected, _ = filter_items([bad | {"chunk_id": "c", "reasoning": ""}], [], {"c": c}, QualityConfig())
    assert kept == [] and rejected[0]["step"] == "structure" and rejected[0]["reason"]


def test_questions_not_about_their_chunk_are_dropped():
    ch = _chunks()
    it = {"question": "I'm ready to help. What's the user's question?", "answer": "Keys expire after 90 days.",
          "reasoning": "", "chunk_id": ch["auth"].id}
    kept, rejected, _ = filter_items([it], [], {c.id: c for c in ch.values()}, QualityConfig(grounding="lexical"))
    assert kept == [] and "not a question about this text" in rejected[0]["reason"]

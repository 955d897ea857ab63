import json

import pytest
import torch

from distill.lm.capture import CaptureConfig, capture, run
from distill.targets.store import StoreError, TargetStore, merge_manifests, topk_of
from tests.lm.tiny import TEXT

pytest.importorskip("transformers")


@pytest.fixture
def corpus(tmp_path):
    f = tmp_path / "corpus.txt"
    f.write_text("\n\n".join(TEXT))
    return f


def _shard_hashes(manifest) -> list[str]:
    return [s["sha256"] for s in sorted(manifest.shards, key=lambda s: s["index"])]


def _reference_hashes(teacher, corpus, tmp_path) -> list[str]:
    """Shard checksums of an uninterrupted capture of the same corpus (under tmp_path/ref)."""
    capture(_cfg(teacher, corpus, tmp_path / "ref"))
    ref = json.loads((tmp_path / "ref" / "manifest.json").read_text())
    return [s["sha256"] for s in ref["shards"]]


def _cfg(teacher, corpus, out, **kw):
    return CaptureConfig(**{"teacher": str(teacher), "data": str(corpus), "top_k": 8, "window": 16, "batch_size": 3,
                            "shard_windows": 5, "out": str(out)} | kw)


def test_topk_of_keeps_the_tail_mass():
    logits = torch.randn(3, 50)
    ids, logp, tail = topk_of(logits, 10)
    p = logits.softmax(-1)
    torch.testing.assert_close(logp.exp(), p.gather(-1, ids))
    torch.testing.assert_close(tail.exp() + logp.exp().sum(-1), torch.ones(3))


@pytest.mark.parametrize("encoding", ["raw", "compact"])
def test_capture_matches_the_teacher_and_streams_every_window_once(tiny_teacher, corpus, tmp_path, encoding):
    from transformers import AutoModelForCausalLM

    m = capture(_cfg(tiny_teacher, corpus, tmp_path / "s", encoding=encoding))
    assert m.complete and m.windows_total >= 11 and len(m.shards) == -(-m.windows_total // 5)
    store = TargetStore(tmp_path / "s", tokenizer_hash=m.tokenizer_hash, teacher_hash=m.teacher_hash)
    x, tgt = store[7]
    model = AutoModelForCausalLM.from_pretrained(tiny_teacher).eval()
    with torch.no_grad():
        ids, logp, tail = topk_of(model(x[None]).logits[0], 8)
    if encoding == "compact":  # ids come back sorted ascending, log-probs on a 1/16-nat grid
        order = ids.argsort(-1)
        ids, logp = ids.gather(-1, order), logp.gather(-1, order)
        tol = dict(atol=1 / 32 + 1e-6, rtol=0)
    else:  # fp16
        tol = dict(atol=2e-3, rtol=1e-3)
    assert torch.equal(tgt.indices, ids)
    torch.testing.assert_close(tgt.logprobs, logp, **tol)
    torch.testing.assert_close(tgt.tail, tail.exp(), atol=2e-3, rtol=1e-2)
    seen = torch.cat([b[0] for b in store.batches(4, seed=0)])
    assert len(seen) == len(store)
    all_windows = torch.stack([store[i][0] for i in range(len(store))])
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, all_windows.tolist()))
    if encoding == "raw":
        # uint16 ids + fp16 log-probs (4 bytes per kept token), fp16 tail, int32 input id, + headers
        assert 4 * 8 + 6 <= store.bytes_per_token() < 4 * 8 + 6 + 40


def test_compact_encoding_roundtrip_and_size():
    from distill.targets.store import decode_compact, encode_compact

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 64, 1000, generator=g) * 3
    ids, logp, _ = topk_of(logits, 32)
    ids_z, lp_z = encode_compact(ids, logp, 1 / 16, 1000)
    back_ids, back_lp = decode_compact(ids_z, lp_z, tuple(ids.shape), 1 / 16, 1000)
    order = ids.argsort(-1)
    assert torch.equal(back_ids, ids.gather(-1, order))
    err = (back_lp - logp.gather(-1, order)).abs()
    assert err.max() <= 1 / 32 + 1e-6  # half a quantization step (no log-prob here is below −15.9)
    assert (len(ids_z) + len(lp_z)) / ids.numel() < 2.5  # bytes per kept token, against 4 raw


def test_killed_capture_resumes_to_identical_shards(tiny_teacher, corpus, tmp_path):
    capture(_cfg(tiny_teacher, corpus, tmp_path / "ref"))
    out = tmp_path / "cut"
    capture(_cfg(tiny_teacher, corpus, out), stop_after_shards=1)
    # simulate kill -9 at the worst moments: a half-written shard, and a renamed shard whose listing was lost
    (out / "shard-00002.safetensors.tmp").write_bytes(b"partial")
    capture(_cfg(tiny_teacher, corpus, tmp_path / "tmp2"))  # a full store to borrow a complete shard 1 from
    (tmp_path / "tmp2" / "shard-00001.safetensors").rename(out / "shard-00001.safetensors")
    m = capture(_cfg(tiny_teacher, corpus, out))
    assert m.complete and not list(out.glob("*.tmp"))
    ref = json.loads((tmp_path / "ref" / "manifest.json").read_text())
    got = json.loads((out / "manifest.json").read_text())
    assert [s["sha256"] for s in got["shards"]] == [s["sha256"] for s in ref["shards"]]


def test_parallel_capture_parts_merge(tiny_teacher, corpus, tmp_path):
    out = tmp_path / "p"
    for rank in (0, 1):
        capture(_cfg(tiny_teacher, corpus, out), rank=rank, world=2)
    m = merge_manifests(out)
    assert m.complete and _shard_hashes(m) == _reference_hashes(tiny_teacher, corpus, tmp_path)


def test_store_refuses_corruption_other_tokenizers_and_settings(tiny_teacher, corpus, tmp_path):
    out = tmp_path / "s"
    m = capture(_cfg(tiny_teacher, corpus, out))
    with pytest.raises(StoreError, match="another tokenizer"):
        TargetStore(out, tokenizer_hash="0" * 64)
    with pytest.raises(StoreError, match="another teacher"):
        TargetStore(out, teacher_hash="f" * 64)
    shard = out / "shard-00001.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="shard-00001.safetensors fails its checksum.*rerun the same"):
        list(TargetStore(out).batches(2))
    with pytest.raises(StoreError, match="different k"):
        capture(CaptureConfig(teacher=str(tiny_teacher), data=str(corpus), top_k=4, window=16, batch_size=3,
                              shard_windows=5, out=str(out)))
    assert m.k == 8


def test_bad_corpus_inputs(tiny_teacher, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="fewer than one window"):
        capture(_cfg(tiny_teacher, empty, tmp_path / "s"))
    with pytest.raises(ValueError, match=r"data is required \(CaptureConfig.data\)"):
        CaptureConfig(data="")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": "no text field"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: JSONL records need a 'text' field"):
        capture(_cfg(tiny_teacher, bad, tmp_path / "s2"))


def test_cli_capture_json(tiny_teacher, corpus, tmp_path, capsys):
    from distill.cli import main

    assert main(["lm", "capture", "--teacher", str(tiny_teacher), "--data", str(corpus), "--top-k", "4",
                 "--window", "16", "--out", str(tmp_path / "s"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["complete"] and res["k"] == 4 and res["bytes_per_token"] < res["dense_fp16_bytes_per_token"]
    assert run  # the CLI goes through capture.run


@pytest.mark.parametrize("encoding", ["raw", "compact"])
def test_sampled_store_round_trip_and_resume(tiny_teacher, corpus, tmp_path, encoding):
    from transformers import AutoModelForCausalLM

    from distill.losses import SampledTargets

    cfg = _cfg(tiny_teacher, corpus, tmp_path / "s", encoding=encoding, targets_kind="sampled", samples=16, seed=3)
    m = capture(cfg)
    assert m.complete and m.kind == "sampled" and m.samples == 16 and m.format == 2
    store = TargetStore(tmp_path / "s", tokenizer_hash=m.tokenizer_hash)
    x, tgt = store[7]
    assert isinstance(tgt, SampledTargets) and tgt.temperature == 1.0
    assert torch.equal(tgt.counts.sum(-1), torch.full((16,), 16))  # 16 positions × 16 draws
    real = tgt.counts > 0
    model = AutoModelForCausalLM.from_pretrained(tiny_teacher).eval()
    with torch.no_grad():
        logp = model(x[None]).logits[0].log_softmax(-1)
    tol = 1 / 32 + 1e-6 if encoding == "compact" else 4e-3  # fp16: half a step at |log p| < 16
    assert (tgt.logprobs[real] - logp.gather(-1, tgt.indices)[real]).abs().max() <= tol
    # most sampled draws land on likely tokens: the counted ids carry most of the teacher's mass
    assert float(logp.exp().gather(-1, tgt.indices).mul(real).sum(-1).mean()) > 0.5
    # same seed → identical shards, also after a capture cut short
    cut = tmp_path / "cut"
    capture(replace_out(cfg, cut), stop_after_shards=1)
    capture(replace_out(cfg, cut))
    ref = json.loads((tmp_path / "s" / "manifest.json").read_text())
    got = json.loads((cut / "manifest.json").read_text())
    assert [s["sha256"] for s in got["shards"]] == [s["sha256"] for s in ref["shards"]]
    with pytest.raises(StoreError, match="different seed"):
        capture(CaptureConfig(**{**cfg.__dict__, "seed": 4}))


def replace_out(cfg, out):
    from dataclasses import replace

    return replace(cfg, out=str(out))


def test_format_1_stores_are_still_read(tiny_teacher, corpus, tmp_path):
    # A store written before sampled targets existed: format 1, no kind / samples / seed fields.
    out = tmp_path / "s"
    capture(_cfg(tiny_teacher, corpus, out))
    mf = json.loads((out / "manifest.json").read_text())
    for key in ("kind", "samples", "seed"):
        mf.pop(key)
    mf["format"] = 1
    (out / "manifest.json").write_text(json.dumps(mf))
    store = TargetStore(out)
    assert store.manifest.kind == "topk" and store.manifest.format == 1
    from distill.losses import TopKTargets

    assert isinstance(store[0][1], TopKTargets) and store[0][1].k == 8
    mf["format"] = 7
    (out / "manifest.json").write_text(json.dumps(mf))
    with pytest.raises(StoreError, match="store format 7"):
        TargetStore(out)


def test_cli_capture_sampled(tiny_teacher, corpus, tmp_path, capsys):
    from distill.cli import main

    assert main(["lm", "capture", "--teacher", str(tiny_teacher), "--data", str(corpus), "--targets-kind", "sampled",
                 "--samples", "8", "--window", "16", "--out", str(tmp_path / "s"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["complete"] and res["kind"] == "sampled" and res["k"] == 8
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["samples"] == 8


def test_resume_with_another_corpus_is_refused_naming_it(tiny_teacher, corpus, tmp_path):
    """Issue 14 item 4: kill, change the corpus (same number of windows), rerun → a store mixing both."""
    out = tmp_path / "s"
    capture(_cfg(tiny_teacher, corpus, out), stop_after_shards=1)
    other = tmp_path / "other.txt"
    other.write_text("\n\n".join(TEXT[::-1]))  # the same sentences in another order: same token and window counts
    before = json.loads((out / "manifest.json").read_text())
    with pytest.raises(StoreError, match=r"different corpus .*corpus\.txt.*other\.txt.*would mix"):
        capture(_cfg(tiny_teacher, other, out))
    assert json.loads((out / "manifest.json").read_text()) == before  # nothing added
    assert before["corpus_hash"] and before["corpus"] == str(corpus)
    with pytest.raises(StoreError, match=r"different temperature \(temperature = 1.0, now 2.0\)"):
        capture(_cfg(tiny_teacher, corpus, out, temperature=2.0))
    with pytest.raises(StoreError, match=r"number of windows .*windows_total = 74, now 7"):
        capture(_cfg(tiny_teacher, corpus, out, max_windows=7))
    # a store from before corpus fingerprints cannot be resumed safely either
    mf = dict(before, corpus_hash="")
    (out / "manifest.json").write_text(json.dumps(mf))
    with pytest.raises(StoreError, match="before stores recorded their corpus"):
        capture(_cfg(tiny_teacher, corpus, out))


def test_an_unlisted_shard_of_another_corpus_is_not_adopted(tiny_teacher, corpus, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("\n\n".join(TEXT[::-1]))
    capture(_cfg(tiny_teacher, other, tmp_path / "o"))
    out = tmp_path / "s"
    capture(_cfg(tiny_teacher, corpus, out), stop_after_shards=1)
    (tmp_path / "o" / "shard-00001.safetensors").rename(out / "shard-00001.safetensors")
    m = capture(_cfg(tiny_teacher, corpus, out))
    assert m.complete and _shard_hashes(m) == _reference_hashes(tiny_teacher, corpus, tmp_path)


def test_capture_rebuilds_missing_and_corrupt_listed_shards(tiny_teacher, corpus, tmp_path):
    """Issue 14 item 6: "delete it and rerun capture" reported the store complete without rebuilding it."""
    out = tmp_path / "s"
    capture(_cfg(tiny_teacher, corpus, out))
    ref = json.loads((out / "manifest.json").read_text())
    (out / "shard-00001.safetensors").unlink()
    shard = out / "shard-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    m = capture(_cfg(tiny_teacher, corpus, out))
    assert m.complete and (out / "shard-00001.safetensors").is_file()
    got = json.loads((out / "manifest.json").read_text())
    assert [s["sha256"] for s in got["shards"]] == [s["sha256"] for s in ref["shards"]]
    assert sum(len(x) for x, _ in TargetStore(out).batches(4)) == ref["windows_total"]
    # a listing naming another file is rebuilt, and the file it names is left alone
    victim = tmp_path / "keep.txt"
    victim.write_text("mine")
    got["shards"][0]["file"] = "../keep.txt"
    (out / "manifest.json").write_text(json.dumps(got))
    with pytest.raises(StoreError, match=r"lists shard 0 as '\.\./keep\.txt'.*rerun the same `distill lm capture`"):
        list(TargetStore(out).batches(4))
    m = capture(_cfg(tiny_teacher, corpus, out))
    assert m.complete and victim.read_text() == "mine"
    assert json.loads((out / "manifest.json").read_text())["shards"][0]["file"] == "shard-00000.safetensors"


def test_hybrid_of_keeps_the_head_exactly_and_draws_only_from_the_rest():
    from distill.targets.store import hybrid_of

    logits = torch.randn(4, 7, 50) * 3
    ids, lp, tail, t_ids, t_counts, t_lp = hybrid_of(logits, 5, 12, generator=torch.Generator().manual_seed(0))
    ref_ids, ref_lp, ref_tail = topk_of(logits, 5)
    assert torch.equal(ids, ref_ids) and torch.equal(lp, ref_lp) and torch.allclose(tail, ref_tail)
    assert torch.equal(t_counts.sum(-1), torch.full((4, 7), 12))
    drawn = t_counts > 0
    inside = (t_ids.unsqueeze(-1) == ids.unsqueeze(-2)).any(-1)  # a draw that is one of the top 5
    assert not (inside & drawn).any()
    torch.testing.assert_close(t_lp, logits.log_softmax(-1).gather(-1, t_ids))
    again = hybrid_of(logits, 5, 12, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[3], t_ids) and torch.equal(again[4], t_counts)  # same seed, same draws
    with pytest.raises(ValueError, match="1 ≤ k < V"):
        hybrid_of(logits, 50, 4)


def test_hybrid_targets_are_unbiased_for_every_token():
    """E[weight_v] = p_v: exactly p_v for the head, r · E[c_v] / N = r · p_v / r for the rest. The mean over
    4,000 captures lands within 4 standard errors of p at every token (derived from the multinomial variance)."""
    from distill.targets.store import hybrid_of, hybrid_targets

    torch.manual_seed(1)
    logits = torch.randn(1, 30) * 2
    p = logits.softmax(-1)[0]
    n, draws = 4000, 6
    gen = torch.Generator().manual_seed(2)
    total = torch.zeros(30, dtype=torch.float64)
    for _ in range(n):
        t = hybrid_targets(*hybrid_of(logits, 4, draws, generator=gen))
        total.index_add_(0, t.indices[0], t.counts[0].double())
    mean = total / n
    head = logits.topk(4).indices[0]
    torch.testing.assert_close(mean[head], p[head].double(), rtol=1e-6, atol=1e-9)  # no noise on the head
    r = 1 - p[head].sum()
    rest = torch.ones(30, dtype=torch.bool)
    rest[head] = False
    se = (r * torch.sqrt((p[rest] / r) * (1 - p[rest] / r) / (draws * n))).double()
    assert ((mean[rest] - p[rest].double()).abs() <= 4 * se + 1e-12).all()


@pytest.mark.parametrize("encoding", ["raw", "compact"])
def test_hybrid_store_round_trip(tiny_teacher, corpus, tmp_path, encoding):
    from transformers import AutoModelForCausalLM

    from distill.losses import SampledTargets

    cfg = _cfg(tiny_teacher, corpus, tmp_path / "h", encoding=encoding, targets_kind="hybrid", top_k=4, samples=8,
               seed=5)
    m = capture(cfg)
    assert m.complete and m.kind == "hybrid" and m.k == 4 and m.samples == 8 and m.format == 3
    store = TargetStore(tmp_path / "h", tokenizer_hash=m.tokenizer_hash)
    x, tgt = store[6]
    assert isinstance(tgt, SampledTargets)
    model = AutoModelForCausalLM.from_pretrained(tiny_teacher).eval()
    with torch.no_grad():
        logp = model(x[None]).logits[0].log_softmax(-1)  # (16, V)
    top = logp.topk(4, -1)
    assert torch.equal(tgt.indices[:, :4].sort(-1).values, top.indices.sort(-1).values)
    tol = 1 / 32 + 1e-6 if encoding == "compact" else 4e-3
    real = tgt.counts > 0
    assert (tgt.logprobs[real] - logp.gather(-1, tgt.indices)[real]).abs().max() <= tol
    # the weights: the head's probabilities, then r · c / 8 for the draws; Σ ≈ 1
    head_p = logp.exp().gather(-1, tgt.indices[:, :4])
    assert (tgt.counts[:, :4] - head_p).abs().max() <= (0.035 if encoding == "compact" else 4e-3)
    assert (tgt.counts.sum(-1) - 1).abs().max() < (0.1 if encoding == "compact" else 1e-2)
    cut = tmp_path / "cut"  # resumable and deterministic like the other kinds
    capture(replace_out(cfg, cut), stop_after_shards=1)
    capture(replace_out(cfg, cut))
    ref = json.loads((tmp_path / "h" / "manifest.json").read_text())
    got = json.loads((cut / "manifest.json").read_text())
    assert [s["sha256"] for s in got["shards"]] == [s["sha256"] for s in ref["shards"]]

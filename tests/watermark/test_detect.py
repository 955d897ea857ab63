"""Detection: the z-test's false-positive rate on plain text is its nominal level; watermarked
generations are found; the CLI writes results without the key."""

import json
import logging
import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from distill.watermark.detect import pairs, read_texts, score_ids
from distill.watermark.greenlist import GreenList, WatermarkProcessor
from distill.watermark.keys import SecretKey
from distill.watermark.stats import binom_sf, green_test, normal_sf, z_score


def test_z_score_reference():
    # by hand: n = 100, γ = 0.25 → mean 25, sd √18.75 = 4.3301; 40 green → z = 15 / 4.3301 = 3.4641
    assert z_score(40, 100, 0.25) == pytest.approx(3.464101615, rel=1e-9)
    assert normal_sf(0.0) == 0.5
    assert normal_sf(1.6448536269514722) == pytest.approx(0.05, rel=1e-12)
    assert green_test(0, 0, 0.25)["p_value"] == 1.0


@pytest.mark.parametrize("k,n,p", [(30, 100, 0.25), (1, 5, 0.5), (90, 200, 0.25), (200, 200, 0.25), (0, 10, 0.3)])
def test_binom_sf_matches_scipy(k, n, p):
    assert binom_sf(k, n, p) == pytest.approx(sps.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300)


def test_pairs_are_deduplicated():
    # "a b a b a b": pairs (a→b), (b→a) only, each once
    assert pairs([1, 2, 1, 2, 1, 2], 1) == [((1,), 2), ((2,), 1)]
    assert pairs([1, 2, 3], 2) == [((1, 2), 3)]


def test_false_positive_rate_on_plain_text_is_nominal():
    # 3,000 texts of 100 random tokens (vocabulary 1,000) that never saw the key: the share flagged at
    # α = 0.01 and 0.05 must be consistent with α (binomial test), and the z-scores ≈ N(0, 1) (KS).
    rng = np.random.default_rng(0)
    g = GreenList(SecretKey(b"detect-null"), 0.25)
    res = [score_ids(rng.integers(0, 1000, 100).tolist(), g) for _ in range(3000)]
    p = np.array([r["p_value"] for r in res])
    for alpha in (0.01, 0.05):
        k = int((p < alpha).sum())
        assert sps.binomtest(k, len(p), alpha).pvalue > 0.001, (alpha, k)
    z = np.array([r["z"] for r in res])
    # discrete green counts: compare with N(0,1) by mean and sd (KS is too strict on a lattice)
    assert abs(z.mean()) < 0.06 and abs(z.std() - 1) < 0.05


def _generate(model, g, delta, seed, n=60):
    from transformers import LogitsProcessorList

    torch.manual_seed(seed)
    procs = LogitsProcessorList([WatermarkProcessor(g, delta)]) if delta else None
    x = torch.tensor([[1, 5 + seed]])
    out = model.generate(x, max_new_tokens=n, min_new_tokens=n, do_sample=True, top_k=0, logits_processor=procs)
    return out[0, 1:].tolist()  # the window of the first new token is the prompt's last token


def test_watermarked_generation_is_detected(wm_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(wm_model).eval()
    g = GreenList(SecretKey(b"gen-key"), 0.25)
    marked = [score_ids(_generate(model, g, 4.0, s), g)["p_value"] for s in range(4)]
    plain = [score_ids(_generate(model, g, 0.0, s), g)["p_value"] for s in range(4)]
    assert max(marked) < 1e-3, marked
    assert min(plain) > 1e-3, plain
    wrong_key = GreenList(SecretKey(b"other"), 0.25)
    assert min(score_ids(_generate(model, g, 4.0, s), wrong_key)["p_value"] for s in range(4)) > 1e-3


def test_engine_watermark_is_detected(wm_model):
    from distill.teachers.hf import HFEngine

    g = GreenList(SecretKey(b"engine-key"), 0.25)
    eng = HFEngine(str(wm_model), device="cpu", logits_processor=WatermarkProcessor(g, 4.0))
    prompt = [1, 40, 41]
    ids = [s.token_id for s in eng.steps(prompt, max_tokens=60, temperature=1.0, seed=3)]
    assert score_ids(prompt[-1:] + ids, g)["p_value"] < 1e-3
    again = [s.token_id for s in eng.steps(prompt, max_tokens=60, temperature=1.0, seed=3)]
    assert again == ids  # seeded: reproducible


def test_read_texts(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"answer": "one"}\n"two"\n\n{"text": "three", "answer": "x"}\n')
    assert read_texts(f) == ["one", "two", "three"]
    (tmp_path / "b.txt").write_text("whole\nfile")
    assert read_texts(tmp_path / "b.txt") == ["whole\nfile"]
    (tmp_path / "c.jsonl").write_text('{"q": 1}\n')
    with pytest.raises(ValueError, match="c.jsonl:1"):
        read_texts(tmp_path / "c.jsonl")


@pytest.mark.slow
def test_cli_detect_watermark_never_writes_the_key(wm_word_model, key_env, tmp_path, capsys, caplog):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.cli import main
    from distill.watermark.keys import read_key

    name, key = key_env
    wm_model = wm_word_model
    model = AutoModelForCausalLM.from_pretrained(wm_model).eval()
    tok = AutoTokenizer.from_pretrained(wm_model)
    g = GreenList(read_key(name), 0.25)
    texts = [tok.decode(_generate(model, g, d, s, 80)) for d, s in ((4.0, 0), (4.0, 1), (0.0, 2))]
    f = tmp_path / "answers.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    caplog.set_level(logging.DEBUG)
    assert main(["detect", "watermark", str(f), "--tokenizer", str(wm_model), "--watermark-key-env", name,
                 "--out", str(tmp_path / "out"), "--json", "-v"]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [t["flagged"] for t in res["texts"]] == [True, True, False]
    assert res["texts"][0]["p_value"] < 1e-3 and math.isfinite(res["texts"][2]["z"])
    captured = capsys.readouterr()
    everything = (captured.out + captured.err + caplog.text + (tmp_path / "out" / "results.json").read_text()
                  + (tmp_path / "out" / "results.md").read_text())
    assert key not in everything and name in everything


def test_cli_refuses_an_unset_key(tmp_path, capsys):
    from distill.cli import main

    f = tmp_path / "a.txt"
    f.write_text("hello")
    assert main(["detect", "watermark", str(f), "--watermark-key-env", "NO_SUCH_WM_VAR"]) == 2
    assert "NO_SUCH_WM_VAR" in capsys.readouterr().err

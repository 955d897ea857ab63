"""Radioactivity: the filters keep the null uniform even for a suspect that copies from its context;
a suspect that learned the green lists is found; the CLI (open and closed mode) runs on tiny models."""

import json

import numpy as np
import pytest
from scipy import stats as sps

from distill.watermark.greenlist import GreenList
from distill.watermark.keys import SecretKey
from distill.watermark.radioactivity import TupleFilter, closed_mode, open_mode, open_predictions

V = 60  # a small vocabulary: windows repeat often inside a text, which is what tempts a copying model


def watermarked_text(g, rng, n=120, delta=3.0):
    """Tokens sampled from uniform logits plus δ on green: p(t) ∝ exp(δ·green(t | previous token))."""
    ids = [int(rng.integers(V))]
    for _ in range(n - 1):
        w = np.exp(delta * g.mask([ids[-1]], V))
        ids.append(int(rng.choice(V, p=w / w.sum())))
    return ids


def each(predict):
    """A one-sequence predictor as the many-sequences one open_mode takes."""
    return lambda seqs: [predict(s) for s in seqs]


def copier(ids):
    """An induction-head suspect (never trained on watermarked text): after token a, predict what followed
    a's previous occurrence in the context, else a fixed token. On watermarked input it repeats green
    tokens; only the 'window already seen' filter keeps it from looking radioactive."""
    out, last_next = [None], {}
    for i in range(1, len(ids)):
        out.append(last_next.get(ids[i - 1], (ids[i - 1] * 7 + 3) % V))
        if i >= 2:
            last_next[ids[i - 2]] = ids[i - 1]
    return out


def test_filter_counts():
    f = TupleFilter(1)
    f.add([1, 2, 1, 2], [None, 5, 5, 5])  # window (1,) at 1; (2,) at 2; (1,) again at 3 → skipped
    assert f.tuples == [((1,), 5), ((2,), 5)] and f.skipped_seen_window == 1
    f.add([1, 3], [None, 5])  # new input, window (1,) unseen here, but tuple ((1,), 5) already scored
    assert f.skipped_duplicate == 1 and len(f.tuples) == 2


def test_filter_counts_h2():
    # h = 2 (the window is the two previous tokens): the filters act on bigram windows, not on single tokens
    f = TupleFilter(2)
    f.add([1, 2, 3, 1, 2, 4], [None, None, 7, 7, 7, 7])  # windows (1,2) (2,3) (3,1) (1,2)-again at position 5
    assert f.tuples == [((1, 2), 7), ((2, 3), 7), ((3, 1), 7)] and f.skipped_seen_window == 1
    f.add([1, 2, 5], [None, None, 7])  # window (1,2) is new in this input, but ((1,2), 7) was scored already
    assert f.skipped_duplicate == 1 and len(f.tuples) == 3
    f.add([3, 2, 9], [None, None, 7])  # window (3,2): new, although (2,3) was seen (order matters)
    assert f.tuples[-1] == ((3, 2), 7) and len(f.tuples) == 4


def test_open_mode_uses_the_greenlist_h():
    # open_mode builds its filter from greenlist.context: an h = 2 suspect that always predicts a green token for
    # the two previous tokens is found with the h = 2 key, and not with the h = 1 split of the same key
    g2 = GreenList(SecretKey(b"radio-h2"), 0.25, context=2)
    g1 = GreenList(SecretKey(b"radio-h2"), 0.25, context=1)
    rng = np.random.default_rng(3)
    texts = [rng.integers(0, V, 80).tolist() for _ in range(6)]

    def learned2(ids):
        return [None, None] + [int(np.flatnonzero(g2.mask(ids[i - 2:i], V))[0]) for i in range(2, len(ids))]

    res = open_mode(each(learned2), texts, g2)
    assert res["green"] == res["scored"] > 100 and res["p_value_exact"] < 1e-20
    assert open_mode(each(learned2), texts, g1)["p_value_exact"] > 1e-4


def test_null_p_values_are_uniform_with_filters_and_not_without():
    # 30 null runs, each with its own key: watermarked texts, a copying suspect that never trained on them
    filtered, unfiltered = [], []
    for run in range(30):
        g = GreenList(SecretKey(f"null-{run}".encode()), 0.25)
        rng = np.random.default_rng(run)
        texts = [watermarked_text(g, rng) for _ in range(6)]
        filtered.append(open_mode(each(copier), texts, g)["p_value_exact"])
        # without the window filter: score every (window, prediction) once, as naive dedup would
        f = TupleFilter(1)
        for t in texts:
            preds = copier(t)
            for i in range(1, len(t)):
                tup = ((t[i - 1],), preds[i])
                if tup not in f._scored:
                    f._scored.add(tup)
                    f.tuples.append(tup)
        unfiltered.append(f.test(g)["p_value_exact"])
    assert sps.kstest(filtered, "uniform").pvalue > 0.05, sorted(filtered)
    assert np.median(unfiltered) < 1e-3  # the bias the filter removes


def test_radioactive_suspect_is_detected():
    g = GreenList(SecretKey(b"radio"), 0.25)
    rng = np.random.default_rng(1)
    texts = [watermarked_text(g, rng) for _ in range(6)]

    def learned(ids):  # predicts a green token for the previous one 40% of the time (chance: 25%)
        r = np.random.default_rng(len(ids))
        out = [None]
        for i in range(1, len(ids)):
            m = g.mask([ids[i - 1]], V)
            pool = np.flatnonzero(m) if r.random() < 0.4 else np.arange(V)
            out.append(int(r.choice(pool)))
        return out

    assert open_mode(each(learned), texts, g)["p_value_exact"] < 1e-4
    other = GreenList(SecretKey(b"other-key"), 0.25)
    assert open_mode(each(learned), texts, other)["p_value_exact"] > 1e-3


def test_open_predictions_batched_equal_one_by_one():
    # right padding and length-sorted batches give, per sequence, exactly what the sequence gives alone
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=64)).eval()
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, V, int(n)).tolist() for n in rng.integers(1, 40, 13)] + [[]]
    one = [open_predictions(model, [s])[0] for s in seqs]
    for budget in (1, 50, 10_000):  # one sequence per forward, a few, all at once
        assert open_predictions(model, seqs, tokens_per_batch=budget) == one
    assert [len(p) for p in one] == [len(s) for s in seqs] and all(p[0] is None for p in one if p)
    with torch.inference_mode():  # and one by one is the argmax of the plain forward
        ref = model(input_ids=torch.tensor([seqs[0]])).logits[0, :-1].argmax(-1).tolist()
    assert one[0] == [None] + ref


def test_closed_mode_scores_generated_tokens_only():
    g = GreenList(SecretKey(b"closed"), 0.25)

    def always_green(prompt):  # a suspect whose every generated token is green for its predecessor
        ids, new = list(prompt), []
        for _ in range(30):
            m = np.flatnonzero(g.mask([ids[-1]], V))
            nxt = int(m[(len(ids) * 13) % len(m)])
            ids.append(nxt)
            new.append(nxt)
        return new

    res = closed_mode(always_green, [[i, (i * 5) % V] for i in range(10)], g)
    assert res["green"] == res["scored"] > 20 and res["p_value_exact"] < 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["open", "closed"])
def test_cli_radioactivity_tiny_model(wm_word_model, key_env, tmp_path, capsys, mode):
    from transformers import AutoTokenizer

    from distill.cli import main

    name, key = key_env
    tok = AutoTokenizer.from_pretrained(wm_word_model)
    rng = np.random.default_rng(0)
    words = [tok.convert_ids_to_tokens(row.tolist()) for row in rng.integers(3, len(tok), (8, 40))]
    f = tmp_path / "marked.jsonl"
    f.write_text("".join(json.dumps({"text": " ".join(w)}) + "\n" for w in words))
    out = tmp_path / mode
    assert main(["detect", "radioactivity", str(f), "--suspect", str(wm_word_model), "--mode", mode,
                 "--watermark-key-env", name, "--max-new-tokens", "20", "--out", str(out), "--json"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["mode"] == mode and res["test"]["scored"] > 20
    assert 0 <= res["test"]["p_value_exact"] <= 1 and not res["radioactive"]  # a random model, random text
    md = (out / "results.md").read_text()
    assert "What it cannot show" in md
    captured = capsys.readouterr()
    assert key not in captured.out + captured.err + md + (out / "results.json").read_text()

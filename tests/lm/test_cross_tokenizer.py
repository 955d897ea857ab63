"""`distill lm train --cross-tokenizer uld|hybrid`: a teacher whose tokenizer differs from the student's."""

import csv
import math

import pytest

from distill.lm.crosstrain import cross_windows
from tests.lm.tiny import TEXT, make_llama, make_tokenizer

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    """A student whose tokenizer (BPE with fewer merges) differs from the tiny teacher's."""
    d = tmp_path_factory.mktemp("xtok")
    (d / "corpus.txt").write_text("\n\n".join(TEXT[:8]))
    return d, make_llama(d / "student", make_tokenizer(TEXT, vocab_size=150), layers=2, seed=3)


def test_windows_give_both_tokenizers_the_same_characters(other, tiny_teacher):
    from transformers import AutoTokenizer

    d, student = other
    s_tok, t_tok = AutoTokenizer.from_pretrained(student), AutoTokenizer.from_pretrained(tiny_teacher)
    windows = cross_windows(d / "corpus.txt", s_tok, t_tok, 12)
    text = (d / "corpus.txt").read_text()
    assert windows
    for w in windows:
        assert len(w.student_ids) == 12 and len(w.teacher_ids) == len(w.teacher_offsets)
        assert w.student_offsets[0][0] == w.teacher_offsets[0][0]
        assert w.student_offsets[-1][1] == w.teacher_offsets[-1][1]  # the same characters, start to end
        # (the tiny tokenizers have no byte-level decoder, "Ġ" is their space, and "\n" is their <unk>)
        decoded = "".join(t_tok.convert_ids_to_tokens(w.teacher_ids.tolist())).replace("Ġ", " ")
        chars = text[w.teacher_offsets[0][0] : w.teacher_offsets[-1][1]]
        assert decoded == chars.replace("\n", "<unk>")


@pytest.mark.parametrize("kind", ["uld", "hybrid"])
def test_cross_tokenizer_training_runs_where_it_was_refused(other, tiny_teacher, tmp_path, kind):
    from distill.lm.train import LMTrainConfig, run

    d, student = other
    res = run(LMTrainConfig(teacher=str(tiny_teacher), student=str(student), data=str(d / "corpus.txt"),
                            cross_tokenizer=kind, ce_weight=0.5, window=12, batch_size=2, steps=2, lr=1e-3,
                            warmup=1, checkpoint_every=0, tensorboard=False, out=str(tmp_path / kind)))
    assert res["completed"]
    rows = list(csv.DictReader(open(tmp_path / kind / "metrics.csv")))
    for r in rows:
        div, ce = float(r["divergence"]), float(r["ce"])
        assert math.isfinite(div) and div > 0 and ce > 0
        assert float(r["loss"]) == pytest.approx(0.5 * div + 0.5 * ce, rel=1e-4)


def _capture(d, student, teacher, out, **kw):
    from distill.lm.capture import CaptureConfig, run

    settings = dict(teacher=str(teacher), data=str(d / "corpus.txt"), targets_kind="cross", student=str(student),
                    window=12, batch_size=3, shard_windows=4, out=str(out)) | kw
    return run(CaptureConfig(**settings))


@pytest.mark.parametrize("kind", ["uld", "hybrid"])
def test_a_cross_store_gives_the_live_loss(other, tiny_teacher, tmp_path, kind):
    """Captured raw with k = the teacher's vocabulary, the stored teacher's loss equals the live one up to the
    store's fp16 log-probabilities; the windows are the live run's."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.lm.crosstrain import batch, cross_loss, cross_loss_stored, vocab_pairs
    from distill.targets.store import TargetStore

    d, student = other
    s_tok, t_tok = AutoTokenizer.from_pretrained(student), AutoTokenizer.from_pretrained(tiny_teacher)
    res = _capture(d, student, tiny_teacher, tmp_path / "store", top_k=len(t_tok), encoding="raw")
    assert res["complete"] and res["kind"] == "cross" and res["k"] == len(t_tok)
    store = TargetStore(tmp_path / "store")
    live = cross_windows(d / "corpus.txt", s_tok, t_tok, 12)
    assert len(store) == len(live)
    got = [store[i] for i in range(5)]
    for (w, _), lw in zip(got, live[:5], strict=True):
        assert torch.equal(w.student_ids, lw.student_ids) and torch.equal(w.teacher_ids, lw.teacher_ids)
        assert w.student_offsets == lw.student_offsets and w.teacher_offsets == lw.teacher_offsets
    s_model, t_model = AutoModelForCausalLM.from_pretrained(student), AutoModelForCausalLM.from_pretrained(tiny_teacher)
    s_ids, t_ids = batch(live[:5], t_tok.pad_token_id or 0)
    with torch.no_grad():
        zs, zt = s_model(s_ids).logits, t_model(t_ids).logits[..., : len(t_tok)]
    vocab = vocab_pairs(s_tok, t_tok) if kind == "hybrid" else None
    want = cross_loss(kind, zs, zt, live[:5], vocab, 1.0)
    have = cross_loss_stored(kind, zs, [w for w, _ in got], [t for _, t in got], vocab, 1.0)
    assert have.item() == pytest.approx(want.item(), rel=2e-3)


def test_cross_store_capture_is_deterministic_and_trains(other, tiny_teacher, tmp_path):
    import json

    from distill.lm.train import LMTrainConfig, run

    d, student = other
    from distill.lm.capture import CaptureConfig, capture
    from distill.targets.store import StoreError

    _capture(d, student, tiny_teacher, tmp_path / "a", top_k=8)
    # b is interrupted after its first shard, then resumed: the same bytes as a capture in one go
    capture(CaptureConfig(teacher=str(tiny_teacher), data=str(d / "corpus.txt"), targets_kind="cross",
                          student=str(student), window=12, batch_size=3, shard_windows=4, top_k=8,
                          out=str(tmp_path / "b")), stop_after_shards=1)
    _capture(d, student, tiny_teacher, tmp_path / "b", top_k=8)
    shards = lambda p: [(s["file"], s["sha256"]) for s in json.loads((p / "manifest.json").read_text())["shards"]]  # noqa: E731
    assert shards(tmp_path / "a") == shards(tmp_path / "b") and len(shards(tmp_path / "a")) >= 2
    with pytest.raises(StoreError, match="k = 8, now 16"):  # resuming with other settings is refused, named
        _capture(d, student, tiny_teacher, tmp_path / "a", top_k=16)
    for kind in ("uld", "hybrid"):
        res = run(LMTrainConfig(student=str(student), targets=(str(tmp_path / "a"),), cross_tokenizer=kind,
                                ce_weight=0.5, window=12, batch_size=2, steps=2, lr=1e-3, warmup=1,
                                checkpoint_every=0, tensorboard=False, out=str(tmp_path / f"run_{kind}")))
        assert res["completed"]
        rows = list(csv.DictReader(open(tmp_path / f"run_{kind}" / "metrics.csv")))
        for r in rows:
            div, ce = float(r["divergence"]), float(r["ce"])
            assert math.isfinite(div) and div > 0 and ce > 0
            assert float(r["loss"]) == pytest.approx(0.5 * div + 0.5 * ce, rel=1e-4)


def test_cross_store_refusals_name_the_setting(other, tiny_teacher, tmp_path):
    from distill.lm.train import LMTrainConfig, run

    d, student = other
    with pytest.raises(ValueError, match="--student"):
        _capture(d, "", tiny_teacher, tmp_path / "none")
    with pytest.raises(ValueError, match="shares the teacher's tokenizer"):
        _capture(d, tiny_teacher, tiny_teacher, tmp_path / "same")
    with pytest.raises(ValueError, match="is for --targets-kind cross"):
        _capture(d, student, tiny_teacher, tmp_path / "topk", targets_kind="topk")
    _capture(d, student, tiny_teacher, tmp_path / "store", top_k=4)
    base = dict(student=str(student), targets=(str(tmp_path / "store"),), window=12, batch_size=2, steps=1,
                checkpoint_every=0, tensorboard=False, out=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="cross_tokenizer must be uld or hybrid"):
        run(LMTrainConfig(**base))
    with pytest.raises(ValueError, match="temperature must be 1"):
        run(LMTrainConfig(**base, cross_tokenizer="uld", temperature=2.0))


def test_cross_stores_of_teachers_with_two_tokenizers_train_together(other, tiny_teacher, tmp_path):
    """Two teachers whose tokenizers differ from each other and from the student's: one cross store each, one
    run over both; a batch's loss is the mean of each window's loss against its own teacher and vocabulary."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.lm.crosstrain import cross_loss_stored, vocab_pairs
    from distill.lm.train import LMTrainConfig, run
    from distill.targets.store import StoreSet
    from tests.lm.tiny import TEXT, make_llama, make_tokenizer

    d, student = other
    # trained on other text too, so the same strings get other ids than in the first teacher's vocabulary
    second = make_llama(tmp_path / "t2", make_tokenizer(["zqx vwk " * 40] * 20 + TEXT, vocab_size=220), layers=2, seed=9)
    _capture(d, student, tiny_teacher, tmp_path / "a", top_k=8)
    _capture(d, student, second, tmp_path / "b", top_k=16)  # another k: cross stores are never stacked
    both = StoreSet([tmp_path / "a", tmp_path / "b"])
    s_tok = AutoTokenizer.from_pretrained(student)
    vocabs = [vocab_pairs(s_tok, AutoTokenizer.from_pretrained(t)) for t in (tiny_teacher, second)]
    assert not torch.equal(vocabs[0][1][: len(vocabs[1][1])], vocabs[1][1][: len(vocabs[0][1])])
    rows = [0, len(both.stores[0])]  # the first window of each store
    got = [both[i] for i in rows]
    s_model = AutoModelForCausalLM.from_pretrained(student)
    with torch.no_grad():
        zs = s_model(torch.stack([w.student_ids for w, _ in got])).logits
    mixed = cross_loss_stored("hybrid", zs, [w for w, _ in got], [t for _, t in got], vocabs, 1.0)
    alone = [cross_loss_stored("hybrid", zs[i : i + 1], [got[i][0]], [got[i][1]], vocabs[i], 1.0) for i in (0, 1)]
    assert mixed.item() == pytest.approx((alone[0].item() + alone[1].item()) / 2, rel=1e-6)
    res = run(LMTrainConfig(student=str(student), targets=(str(tmp_path / "a"), str(tmp_path / "b")),
                            cross_tokenizer="hybrid", window=12, batch_size=4, steps=2, lr=1e-3, warmup=1,
                            checkpoint_every=0, tensorboard=False, out=str(tmp_path / "run")))
    assert res["completed"]
    assert all(math.isfinite(float(r["divergence"])) for r in csv.DictReader(open(tmp_path / "run" / "metrics.csv")))

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

import json
import math

import pytest
import torch

from distill.cli import main
from distill.lm.evaluate import LMEvalConfig, evaluate, markdown
from distill.lm.student import build_student
from tests.lm.tiny import TEXT

pytest.importorskip("transformers")


def test_eval_of_teacher_against_itself_and_a_cut_student(tiny_teacher, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(TEXT))
    same = evaluate(LMEvalConfig(teacher=str(tiny_teacher), student=str(tiny_teacher), data=str(corpus), window=16,
                                 max_windows=6, gen_tokens=4))
    assert same["kl_teacher_student"] == pytest.approx(0.0, abs=1e-6) and same["top1_agreement"] == 1.0
    assert same["teacher"]["perplexity"] == pytest.approx(same["student"]["perplexity"], rel=1e-6)
    build_student(str(tiny_teacher), "every-other", tmp_path / "s")
    res = evaluate(LMEvalConfig(teacher=str(tiny_teacher), student=str(tmp_path / "s"), data=str(corpus), window=16,
                                max_windows=6, gen_tokens=4))
    assert res["kl_teacher_student"] > 0.01 and res["tokens"] == 6 * 15
    assert res["student"]["parameters"] < res["teacher"]["parameters"]
    assert res["student"]["bytes_on_disk"] < res["teacher"]["bytes_on_disk"]
    assert "| perplexity (held out) |" in markdown(res)
    # the perplexity is exp of the mean next-token NLL, checked by hand on the teacher
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.lm.corpus import pack_windows

    w = pack_windows(corpus, AutoTokenizer.from_pretrained(tiny_teacher), 16, 6)
    with torch.no_grad():
        lp = AutoModelForCausalLM.from_pretrained(tiny_teacher)(w).logits.log_softmax(-1)[:, :-1]
    nll = -lp.gather(-1, w[:, 1:, None]).mean().item()
    assert same["teacher"]["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)
    assert main(["lm", "eval", "--teacher", str(tiny_teacher), "--student", str(tmp_path / "s"), "--data",
                 str(corpus), "--window", "16", "--max-windows", "2", "--gen-tokens", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == 2 * 15


def test_eval_kl_is_forward_kl_and_cuda_timing_is_synchronized(tiny_teacher, tmp_path, monkeypatch):
    """Issue 13, bug 7: the KL metric is computed by distill.losses.forward_kl (it was written out by
    hand), and CUDA forwards are timed between two device synchronizations (they were not: on a GPU
    that times kernel launches)."""
    import distill.lm.evaluate as ev
    from distill.losses import forward_kl

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(TEXT))
    build_student(str(tiny_teacher), "every-other", tmp_path / "s")
    calls = []

    def spy(student_logits, teacher_logits, **kw):
        calls.append(student_logits.shape)
        return forward_kl(student_logits, teacher_logits, **kw)

    monkeypatch.setattr(ev, "forward_kl", spy)
    res = evaluate(LMEvalConfig(teacher=str(tiny_teacher), student=str(tmp_path / "s"), data=str(corpus), window=16,
                                max_windows=6, batch_size=4, gen_tokens=0))
    assert len(calls) == 2  # one per batch: 4 + 2 windows
    # the value: mean over the 6 × 15 predicted tokens of KL(teacher ‖ student), by hand in float64
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.lm.corpus import pack_windows

    w = pack_windows(corpus, AutoTokenizer.from_pretrained(tiny_teacher), 16, 6)
    with torch.no_grad():
        lt = AutoModelForCausalLM.from_pretrained(tiny_teacher)(w).logits[:, :-1].double().log_softmax(-1)
        ls = AutoModelForCausalLM.from_pretrained(tmp_path / "s")(w).logits[:, :-1].double().log_softmax(-1)
    assert res["kl_teacher_student"] == pytest.approx((lt.exp() * (lt - ls)).sum(-1).mean().item(), rel=1e-5)

    syncs = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: syncs.append(str(device)))
    out, seconds = ev._timed(lambda: syncs.append("work") or 7, "cuda")
    assert out == 7 and seconds >= 0 and syncs == ["cuda", "work", "cuda"]
    syncs.clear()
    ev._timed(lambda: None, "cpu")
    assert syncs == []  # no synchronization on CPU


def test_eval_flags_a_student_that_always_predicts_one_token(tiny_teacher, tmp_path):
    """A student whose final norm is zeroed has all-zero logits: its greedy prediction is token 0 ("<unk>")
    at every position. The eval names the token and its share; the (healthy) teacher is not flagged."""
    from transformers import AutoModelForCausalLM

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(TEXT))
    build_student(str(tiny_teacher), "every-other", tmp_path / "s")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "s")
    with torch.no_grad():
        model.model.norm.weight.zero_()
    model.save_pretrained(tmp_path / "s")
    res = evaluate(LMEvalConfig(teacher=str(tiny_teacher), student=str(tmp_path / "s"), data=str(corpus), window=16,
                                max_windows=6, gen_tokens=8, repeats=5))
    c = res["student"]["collapse"]
    assert c["collapsed"] and c["dominant_token"] == 0 and c["dominant_count"] == c["positions"] == 6 * 15
    assert c["reasons"][0].startswith('predicts "<unk>" at 90/90 positions (reference: ')
    assert c["blank"] == 1  # "<unk>" is a special token: its decoded continuation is empty
    t = res["teacher"]["collapse"]
    assert not t["collapsed"] and t["dominant_share"] < 0.5
    md = markdown(res)
    assert '**The student has collapsed: predicts "<unk>" at 90/90 positions' in md
    # five timed repeats each, reported as median (min–max)
    assert res["student"]["forward_speed"]["repeats"] == 5 == len(res["teacher"]["generate_speed"]["rates"])
    assert res["student"]["forward_tokens_per_s"] == res["student"]["forward_speed"]["median"]
    assert "forward tokens/s, median (min–max of 5)" in md

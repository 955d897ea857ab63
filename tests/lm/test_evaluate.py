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

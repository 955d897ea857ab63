import csv
import json

import pytest
import torch

from distill.lm.corpus import chat_examples, is_chat_jsonl, render_chat
from tests.lm.tiny import TEXT, make_tokenizer

pytest.importorskip("transformers")

CHATS = [[{"role": "system", "content": "You answer questions about distill."},
          {"role": "user", "content": f"What does the teacher do in case {i}?"},
          {"role": "assistant", "content": "The teacher model knows more; the student matches it."}] for i in range(6)]


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer(TEXT + [m["content"] for c in CHATS for m in c])


def _write(path, chats):
    path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in chats))
    return path


def test_reply_tokens_only_are_counted(tok, tmp_path):
    p = _write(tmp_path / "train.jsonl", CHATS)
    assert is_chat_jsonl(p) and is_chat_jsonl(tmp_path) and not is_chat_jsonl(tmp_path / "nope.txt")
    ids, mask = chat_examples(p, tok, 64)
    assert ids.shape[0] == 6 and mask.shape == ids.shape
    for j in range(6):
        prompt, reply = render_chat(tok, CHATS[j])
        assert prompt.endswith("Answer: ") and reply == CHATS[j][2]["content"] + "</s>"
        assert tok.decode(ids[j][mask[j]]) == tok.decode(tok(reply, add_special_tokens=False)["input_ids"])
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
        assert not mask[j, :n_prompt].any() and mask[j, n_prompt:].sum() == len(tok(reply, add_special_tokens=False)["input_ids"])


def test_chat_template_is_used_when_the_tokenizer_has_one(tok):
    tok = tok.__class__(tokenizer_object=tok._tokenizer, eos_token="</s>")
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    prompt, reply = render_chat(tok, CHATS[0])
    assert prompt.endswith("<assistant>") and reply == CHATS[0][2]["content"] + "</s>"


def test_too_long_prompts_are_dropped_and_bad_records_named(tok, tmp_path):
    with pytest.raises(ValueError, match="no usable chat examples"):
        chat_examples(_write(tmp_path / "a.jsonl", CHATS), tok, 8)
    (tmp_path / "b.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(ValueError, match=r"b.jsonl:1"):
        chat_examples(tmp_path / "b.jsonl", tok, 64)


def test_training_on_chat_data_counts_replies_only(tiny_teacher, tmp_path):
    """The logged first-step CE equals the CE of the untouched student over reply tokens, written out here."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.lm.student import build_student
    from distill.lm.train import LMTrainConfig, run, text_ce

    build_student(str(tiny_teacher), "every-other", tmp_path / "student")
    s_tok = AutoTokenizer.from_pretrained(tmp_path / "student")
    data = _write(tmp_path / "train.jsonl", CHATS)
    ids, mask = chat_examples(data, s_tok, 64)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "student").eval()
    with torch.no_grad():
        expected = text_ce(model(ids).logits, ids, mask).item()
        everything = text_ce(model(ids).logits, ids).item()
    cfg = LMTrainConfig(teacher=str(tiny_teacher), student=str(tmp_path / "student"), data=str(data), loss="ce",
                        window=64, batch_size=6, steps=2, lr=1e-3, warmup=1, out=str(tmp_path / "out"))
    run(cfg)
    first = float(next(csv.DictReader(open(tmp_path / "out" / "metrics.csv")))["ce"])
    assert first == pytest.approx(expected, rel=1e-4) and abs(first - everything) > 1e-3
    with pytest.raises(ValueError, match="lmbda"):
        run(LMTrainConfig(student=str(tmp_path / "student"), teacher=str(tiny_teacher), data=str(data),
                          lmbda=0.5, window=64, batch_size=2, steps=1, out=str(tmp_path / "x")))

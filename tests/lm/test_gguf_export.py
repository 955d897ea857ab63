"""`distill export gguf`: a tiny Llama written as GGUF, read back by gguf's reader and transformers' GGUF loader."""

import numpy as np
import pytest

pytest.importorskip("gguf")
pytest.importorskip("transformers")

from distill.lm.gguf_export import export_gguf, permute_rotary, pre_tokenizer_name  # noqa: E402

PROMPT = "The student matches the teacher's next-token distribution"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.lm.tiny import TEXT, make_llama, make_tokenizer

    tok = make_tokenizer(TEXT)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    return make_llama(tmp_path_factory.mktemp("llama"), tok, layers=2, pad_rows=3)


def logits(model, tok, text=PROMPT):
    import torch

    with torch.no_grad():
        return model(**tok(text, return_tensors="pt")).logits[0].float()


def reload(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name).eval(),
            AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name))


def test_permute_rotary_interleaves_each_heads_halves():
    # 2 heads of dim 4: HF rows per head are [x0 x1 | y0 y1]; llama.cpp wants [x0 y0 x1 y1]
    w = np.arange(8)[:, None] * np.ones((1, 3))
    assert permute_rotary(w, 2)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


@pytest.mark.parametrize("quantize,tol", [("f32", 1e-4), ("f16", 0.05)])
def test_round_trip_through_transformers_gguf_loader(tiny, tmp_path, quantize, tol):
    """transformers dequantizes and un-permutes: logits equal the original's (f32: to rounding; f16: close)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / f"tiny-{quantize}.gguf"
    info = export_gguf(tiny, out, quantize)
    model, gtok = reload(out)
    ref_tok = AutoTokenizer.from_pretrained(tiny)
    ref = logits(AutoModelForCausalLM.from_pretrained(tiny).eval(), ref_tok)
    assert gtok(PROMPT)["input_ids"] == ref_tok(PROMPT)["input_ids"]  # the tokenizer survives too
    got = logits(model, ref_tok)
    assert got.shape == ref.shape and float((got - ref).abs().max()) < tol * float(ref.abs().max())
    assert (got.argmax(-1) == ref.argmax(-1)).float().mean() == 1.0
    assert info["pre_tokenizer"] == "gpt-2" and info["quantize"] == quantize
    assert model.config.tie_word_embeddings is False and model.config.vocab_size == len(ref_tok) + 3


def test_reader_sees_llama_metadata_names_and_types(tiny, tmp_path):
    import gguf

    out = tmp_path / "tiny-q8.gguf"
    export_gguf(tiny, out, "q8_0")
    r = gguf.GGUFReader(out)
    f = {k: v.contents() for k, v in r.fields.items() if not k.startswith("tokenizer.ggml.t")}
    assert f["general.architecture"] == "llama" and f["llama.block_count"] == 2
    assert f["llama.attention.head_count"] == 4 and f["llama.attention.head_count_kv"] == 2
    assert f["llama.embedding_length"] == 64 and f["llama.rope.dimension_count"] == 16
    assert f["tokenizer.ggml.model"] == "gpt2" and f["tokenizer.ggml.pre"] == "gpt-2"
    assert f["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q8_0
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    n = f["llama.vocab_size"]  # the tokenizer's ids + 3 padding rows of the embedding
    assert len(tokens) == n and tokens[-1] == f"[PAD{n - 1}]" and tokens[2] == "</s>"
    assert r.fields["tokenizer.ggml.token_type"].contents()[1:3] == [3, 3]  # <s>, </s>: control tokens
    kinds = {t.name: t.tensor_type.name for t in r.tensors}
    assert kinds["blk.0.attn_q.weight"] == "Q8_0" and kinds["blk.1.attn_norm.weight"] == "F32"
    assert {"token_embd.weight", "output.weight", "output_norm.weight", "blk.1.ffn_down.weight"} <= set(kinds)
    assert len(kinds) == 2 + 1 + 9 * 2  # embeddings, output, final norm + 9 per block
    q8 = reload(out)[0]  # Q8_0: one int8 per weight and a scale per 32; the greedy token stays
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    ref = logits(AutoModelForCausalLM.from_pretrained(tiny).eval(), tok)
    assert (logits(q8, tok).argmax(-1) == ref.argmax(-1)).float().mean() >= 0.9


def test_tied_embeddings_have_no_output_tensor(tmp_path):
    import gguf

    from tests.lm.tiny import TEXT, make_llama, make_tokenizer

    folder = make_llama(tmp_path / "tied", make_tokenizer(TEXT), layers=1, tie=True)
    export_gguf(folder, tmp_path / "tied.gguf", "f32")
    names = {t.name for t in gguf.GGUFReader(tmp_path / "tied.gguf").tensors}
    assert "output.weight" not in names and "token_embd.weight" in names
    assert reload(tmp_path / "tied.gguf")[0].config.tie_word_embeddings is True


def test_refusals_name_the_problem(tiny, tmp_path):
    with pytest.raises(ValueError, match="quantize"):
        export_gguf(tiny, tmp_path / "x.gguf", "q4_0")
    assert pre_tokenizer_name({"model": {"type": "BPE"}, "pre_tokenizer": {
        "type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                              {"type": "ByteLevel", "use_regex": True}]}}) == "smollm"
    with pytest.raises(ValueError, match="BPE"):
        pre_tokenizer_name({"model": {"type": "Unigram"}})
    with pytest.raises(ValueError, match="Metaspace"):
        pre_tokenizer_name({"model": {"type": "BPE"}, "pre_tokenizer": {"type": "Metaspace"}})


def test_cli_export_writes_and_checks_the_file(tiny, tmp_path, capsys):
    from distill.cli import main

    out = tmp_path / "student.gguf"
    assert main(["export", "gguf", str(tiny), "--out", str(out), "--quantize", "f16", "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["file"] == str(out) and out.stat().st_size == res["bytes"] and res["quantize"] == "f16"
    assert res["greedy_agreement"] == 1.0 and res["max_abs_logit_diff"] < 0.05
    assert res["tensors"] == 21


@pytest.mark.parametrize("quantize,tol,agree", [("f32", 1e-3, 1.0), ("f16", 0.03, 1.0), ("q8_0", 0.1, 0.9)])
def test_round_trip_through_llama_cpp(tiny, tmp_path, quantize, tol, agree):
    """The issue's check: llama.cpp loads the file, tokenizes as transformers does, and its logits and greedy
    continuation match the folder's (f32 to rounding; f16 close; q8_0 near, greedy mostly the same)."""
    pytest.importorskip("llama_cpp")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.teachers.llamacpp import LlamaCppEngine, last_logits

    out = tmp_path / f"tiny-{quantize}.gguf"
    export_gguf(tiny, out, quantize)
    engine = LlamaCppEngine(str(out), n_ctx=128, n_threads=1)
    tok = AutoTokenizer.from_pretrained(tiny)
    prompt = tok(PROMPT, add_special_tokens=False)["input_ids"]
    assert engine.text_prompt_ids(PROMPT) == prompt  # llama.cpp's tokenizer (gpt-2 pre-tokenizer) agrees
    llm, ids, got = engine.llm, list(prompt), []
    llm.reset()
    llm.eval(ids)
    for _ in range(20):  # llama.cpp's own greedy continuation, its logits at every step
        got.append(np.array(last_logits(llm), dtype=np.float32))
        ids.append(int(got[-1].argmax()))
        llm.eval([ids[-1]])
    with torch.no_grad():  # the folder's logits on the same tokens (teacher forcing)
        ref = AutoModelForCausalLM.from_pretrained(tiny).eval()(torch.tensor([ids])).logits[0].numpy()
    ref = ref[len(prompt) - 1:len(ids) - 1]
    got = np.stack(got)
    assert got.shape == ref.shape
    assert float(np.abs(got - ref).max()) < tol * float(np.abs(ref).max())
    assert float((got.argmax(-1) == ref.argmax(-1)).mean()) >= agree  # greedy: llama.cpp's tokens are the folder's

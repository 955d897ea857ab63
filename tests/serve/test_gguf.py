"""`distill serve FILE.gguf`: routed to llama.cpp, answering the same OpenAI JSON as the transformers path.

Without llama-cpp-python the llama.cpp engine runs on a stand-in ``Llama`` backed by the same tiny
transformers model (so answers must be identical, token for token); with it installed, the real library
serves the tiny model exported to GGUF f32, and the answers must still be the transformers ones.
"""

import importlib.util
import json
import sys
import types

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("transformers")
httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")

from distill.serve.app import create_app  # noqa: E402
from distill.serve.server import ServeConfig, ServerThread, is_gguf, load_engine, served_name  # noqa: E402
from distill.teachers.hf import HFEngine  # noqa: E402
from tests.teachers.conftest import CHAT_TEMPLATE  # noqa: E402

ASK = [{"role": "user", "content": "What is distillation?"}]
HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    """The tiny chat model of tests/teachers/conftest.py, its tokenizer also trained on newlines (the template
    writes them; a byte-level vocabulary without "Ċ" makes transformers write <unk> where llama.cpp does not)."""
    from tokenizers import decoders

    from tests.lm.tiny import TEXT, make_llama, make_tokenizer

    tok = make_tokenizer(TEXT + ["user assistant system", "What is distillation?", "<s>user\nhi</s>\n"] * 3)
    tok.backend_tokenizer.decoder = decoders.ByteLevel()
    tok.chat_template = CHAT_TEMPLATE
    return make_llama(tmp_path_factory.mktemp("chat"), tok, layers=2)


class StandInLlama:
    """The slice of ``llama_cpp.Llama`` the engine uses, computed by a transformers model (``FOLDER``)."""

    FOLDER = None
    built: list = []

    def __init__(self, model_path, **kw):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        StandInLlama.built.append((model_path, kw))
        self.tok = AutoTokenizer.from_pretrained(self.FOLDER)
        self.model = AutoModelForCausalLM.from_pretrained(self.FOLDER, dtype=torch.float32).eval()
        self._n_ctx = kw.get("n_ctx") or 512
        self.metadata = {"tokenizer.chat_template": self.tok.chat_template,
                         "tokenizer.ggml.eos_token_id": str(self.tok.eos_token_id),
                         "tokenizer.ggml.bos_token_id": str(self.tok.bos_token_id),
                         "tokenizer.ggml.add_bos_token": "false"}
        self.ids, self.logits = [], None

    def n_ctx(self):
        return self._n_ctx

    def n_vocab(self):
        return self.model.config.vocab_size

    def token_eos(self):
        return self.tok.eos_token_id

    def tokenize(self, text: bytes, add_bos=True, special=False):
        return self.tok(text.decode(), add_special_tokens=False)["input_ids"]

    def detokenize(self, ids, special=False):
        return self.tok.decode(ids, skip_special_tokens=not special).encode()

    def reset(self):
        self.ids = []

    def eval(self, ids):
        import torch

        self.ids += list(ids)
        with torch.no_grad():
            self.logits = self.model(torch.tensor([self.ids])).logits[0, -1].numpy()


@pytest.fixture
def stand_in(monkeypatch, chat_model, tmp_path):
    """llama_cpp 'installed' as the stand-in; a .gguf path that exists."""
    mod = types.ModuleType("llama_cpp")
    mod.Llama = StandInLlama
    mod.__spec__ = importlib.util.spec_from_loader("llama_cpp", loader=None)
    monkeypatch.setitem(sys.modules, "llama_cpp", mod)
    monkeypatch.setattr("distill.teachers.llamacpp.last_logits", lambda llm: llm.logits)
    monkeypatch.setattr(StandInLlama, "FOLDER", chat_model)
    StandInLlama.built.clear()
    path = tmp_path / "tiny-f32.gguf"
    path.write_bytes(b"GGUF")
    return path


@pytest.fixture(scope="module")
def hf_engine(chat_model):
    return HFEngine(str(chat_model), device="cpu")


@pytest.fixture(scope="module")
def real_gguf(chat_model, tmp_path_factory):
    pytest.importorskip("gguf")
    from distill.lm.gguf_export import export_gguf

    out = tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf"
    export_gguf(chat_model, out, "f32")
    return out


def test_a_gguf_path_is_routed_to_llama_cpp(stand_in):
    from distill.teachers.llamacpp import LlamaCppEngine

    cfg = ServeConfig(model=str(stand_in), threads=3, context=256)
    assert is_gguf(cfg.model) and not is_gguf("runs/student") and is_gguf("X.GGUF")
    engine = load_engine(cfg)
    assert isinstance(engine, LlamaCppEngine) and served_name(cfg) == "tiny-f32"
    path, kw = StandInLlama.built[0]
    assert path == str(stand_in) and kw["n_threads"] == 3 and kw["n_ctx"] == 256 and kw["n_gpu_layers"] == 0
    assert engine.max_context == 256 and "llama.cpp" in engine.device


def test_build_app_serves_the_gguf_engine(stand_in):
    from distill.serve.server import build_app
    from distill.teachers.llamacpp import LlamaCppEngine

    app = build_app(ServeConfig(model=str(stand_in)))
    assert isinstance(app.state.engine, LlamaCppEngine) and app.state.served_name == "tiny-f32"


def test_a_folder_stays_on_transformers(stand_in, chat_model):
    engine = load_engine(ServeConfig(model=str(chat_model)))
    assert isinstance(engine, HFEngine) and not StandInLlama.built


def test_missing_package_or_file_says_what_to_do(tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ModuleNotFoundError, match=r"distill\[llamacpp\]"):
        load_engine(ServeConfig(model=str(gguf)))
    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=StandInLlama))
    with pytest.raises(FileNotFoundError, match="no such GGUF file"):
        load_engine(ServeConfig(model=str(tmp_path / "absent.gguf")))


@pytest.mark.parametrize("argv,says", [
    (["m.gguf", "--dtype", "bfloat16"], "distill export gguf --quantize"),
    (["m.gguf", "--device", "cuda"], "--gpu-layers"),
    (["m.gguf", "--watermark-key-env", "K"], "serve the Hugging Face folder"),
    (["runs/student", "--gpu-layers", "4"], "unless the model is a .gguf file"),
    (["runs/student", "--context", "512"], "unless the model is a .gguf file"),
    (["m.gguf", "--threads", "-1"], "threads must be"),
])
def test_cli_refuses_options_that_do_not_fit_the_backend(argv, says, capsys):
    from distill.cli import main

    assert main(["serve", *argv]) == 2
    assert says in capsys.readouterr().err


def _shape(obj):
    """The JSON's structure: keys and value types, values dropped (lists: the shape of the first item)."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in sorted(obj.items()) if k not in ("id", "created")}
    if isinstance(obj, list):
        return [_shape(obj[0])] if obj else []
    return type(obj).__name__


def _calls(url):
    """The same requests of every kind, answered as raw JSON (streams: the list of events)."""
    out = {}
    with httpx.Client(base_url=url, timeout=60) as c:
        out["models"] = c.get("/v1/models").json()
        out["chat"] = c.post("/v1/chat/completions", json={"model": "tiny", "messages": ASK, "max_tokens": 10,
                                                            "temperature": 0}).json()
        out["logprobs"] = c.post("/v1/chat/completions", json={
            "model": "tiny", "messages": ASK, "max_tokens": 4, "temperature": 0, "logprobs": True,
            "top_logprobs": 3}).json()
        r = c.post("/v1/chat/completions", json={"model": "tiny", "messages": ASK, "max_tokens": 10, "stream": True,
                                                 "temperature": 0, "stream_options": {"include_usage": True}})
        out["stream"] = [json.loads(e.removeprefix("data: ")) for e in r.text.split("\n\n")
                         if e and e != "data: [DONE]"]
        out["completion"] = c.post("/v1/completions", json={"model": "tiny", "prompt": "The student matches",
                                                             "max_tokens": 6, "temperature": 0, "logprobs": 2}).json()
        out["bad_model"] = c.post("/v1/chat/completions", json={"model": "nope", "messages": ASK}).json()
        out["bad_temperature"] = c.post("/v1/chat/completions", json={"model": "tiny", "messages": ASK,
                                                                       "temperature": 3}).json()
        out["too_long"] = c.post("/v1/chat/completions", json={"model": "tiny", "messages": [
            {"role": "user", "content": "x " * 400}]}).json()
    return out


def _serve(engine):
    with ServerThread(create_app(engine, "tiny", max_prompt_tokens=256)) as s:
        return _calls(s.url)


def _compare(got, ref):
    assert {k: _shape(v) for k, v in got.items()} == {k: _shape(v) for k, v in ref.items()}
    assert got["chat"]["choices"][0]["message"]["content"] == ref["chat"]["choices"][0]["message"]["content"] != ""
    assert got["chat"]["usage"] == ref["chat"]["usage"]
    streamed = "".join(e["choices"][0]["delta"].get("content") or "" for e in got["stream"] if e["choices"])
    assert streamed == ref["chat"]["choices"][0]["message"]["content"]
    assert got["stream"][-1]["usage"] == ref["stream"][-1]["usage"]
    assert got["completion"]["choices"][0]["text"] == ref["completion"]["choices"][0]["text"]
    for k in ("bad_model", "bad_temperature", "too_long"):
        assert got[k] == ref[k]  # the same errors, word for word
    return [c["logprob"] for c in got["logprobs"]["choices"][0]["logprobs"]["content"]]


def test_same_json_and_answers_as_transformers_on_the_stand_in(stand_in, hf_engine):
    from distill.teachers.llamacpp import LlamaCppEngine

    ref = _serve(hf_engine)
    got = _serve(LlamaCppEngine(str(stand_in), n_ctx=hf_engine.max_context))
    lps = _compare(got, ref)
    want = [c["logprob"] for c in ref["logprobs"]["choices"][0]["logprobs"]["content"]]
    assert lps == pytest.approx(want, abs=1e-4) and len(lps) == 4
    tops = got["logprobs"]["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    assert [t["token"] for t in tops] == [t["token"] for t in
                                          ref["logprobs"]["choices"][0]["logprobs"]["content"][0]["top_logprobs"]]


def test_seeded_sampling_is_reproducible_on_llama_cpp_engine(stand_in):
    from distill.teachers.llamacpp import LlamaCppEngine

    e = LlamaCppEngine(str(stand_in))
    ids = e.chat_prompt_ids(ASK)

    def sample(seed):
        return e.generate(ids, max_tokens=12, temperature=1.5, seed=seed)["text"]

    assert sample(1) == sample(1) and len({sample(1), sample(2), sample(3)}) > 1


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'distill[llamacpp]')")
def test_same_json_and_answers_as_transformers_through_real_llama_cpp(real_gguf, hf_engine):
    from distill.teachers.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(str(real_gguf), n_ctx=hf_engine.max_context, n_threads=1)
    assert engine.chat_prompt_ids(ASK) == hf_engine.chat_prompt_ids(ASK)
    ref = _serve(hf_engine)
    lps = _compare(_serve(engine), ref)
    want = [c["logprob"] for c in ref["logprobs"]["choices"][0]["logprobs"]["content"]]
    assert lps == pytest.approx(want, abs=1e-3)  # f32 file: llama.cpp's kernels round differently, barely


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed (pip install 'distill[llamacpp]')")
def test_distill_serve_subprocess_serves_a_gguf(real_gguf, hf_engine):
    import os
    import re
    import signal
    import subprocess
    from pathlib import Path

    import distill

    env = os.environ | {"PYTHONPATH": str(Path(distill.__file__).parents[1])}
    p = subprocess.Popen([sys.executable, "-m", "distill", "serve", str(real_gguf), "--port", "0", "--threads", "1"],
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = ""
        while not re.search(r"serving .* at http:", line):
            line = p.stderr.readline()
            assert line or p.poll() is None, "distill serve exited early"
        assert "llama.cpp" in line
        client = openai.OpenAI(base_url=re.search(r"(http://\S+/v1)", line).group(1), api_key="-", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["tiny-f32"]
        r = client.chat.completions.create(model="tiny-f32", messages=ASK, max_tokens=8, temperature=0)
        assert r.choices[0].message.content == hf_engine.generate(hf_engine.chat_prompt_ids(ASK), max_tokens=8)["text"]
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(30) in (0, -signal.SIGINT)

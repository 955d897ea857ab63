"""Which engine the embedded teacher runs on: llama.cpp when llama-cpp-python is installed (CPU), else transformers."""

import importlib.util
import logging
import sys
import types

import pytest

import distill.teachers as T


class FakeLlama:
    """Stands in for llama_cpp.Llama: records how it was built."""

    built: list = []

    def __init__(self, model_path, **kw):
        FakeLlama.built.append((model_path, kw))


@pytest.fixture
def fake_llama_cpp(monkeypatch, tmp_path):
    """llama_cpp 'installed' (a fake module), the embedded GGUF at a temporary path, the HF loader stubbed."""
    mod = types.ModuleType("llama_cpp")
    mod.Llama = FakeLlama
    mod.__spec__ = importlib.util.spec_from_loader("llama_cpp", loader=None)
    monkeypatch.setitem(sys.modules, "llama_cpp", mod)
    gguf = tmp_path / "SmolLM2.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr("distill.lm.models.embedded_gguf", lambda name="smollm2": gguf)
    monkeypatch.setattr(T, "_load_hf", lambda spec, **kw: ("hf", spec, kw))
    FakeLlama.built.clear()
    return gguf


def test_auto_uses_llama_cpp_when_installed(fake_llama_cpp, caplog):
    with caplog.at_level(logging.INFO, logger="distill.teachers"):
        t = T.load_teacher("smollm2")
    from distill.teachers.llamacpp import LlamaCppTeacher

    assert isinstance(t, LlamaCppTeacher) and t.name == "smollm2@llama.cpp"
    assert FakeLlama.built[0][0] == str(fake_llama_cpp)
    assert "llama.cpp on SmolLM2.gguf (llama-cpp-python is installed" in caplog.text


def test_transformers_when_asked_or_on_a_gpu(fake_llama_cpp, caplog):
    with caplog.at_level(logging.INFO, logger="distill.teachers"):
        assert T.load_teacher("smollm2", backend="transformers") == ("hf", "smollm2", {})
        assert T.load_teacher("smollm2", device="cuda")[0] == "hf"
    assert "transformers with dynamic batching (asked for)" in caplog.text
    assert "(a GPU device was asked for)" in caplog.text and not FakeLlama.built


def test_auto_falls_back_to_transformers_without_the_package(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    monkeypatch.setattr(T, "_load_hf", lambda spec, **kw: ("hf", spec, kw))
    with caplog.at_level(logging.INFO, logger="distill.teachers"):
        assert T.load_teacher("smollm2", max_batch=4) == ("hf", "smollm2", {"max_batch": 4})
    assert "(llama-cpp-python is not installed)" in caplog.text
    with pytest.raises(ValueError, match="backend must be one of"):
        T.load_teacher("smollm2", backend="vllm")


def test_teacher_options_pass_the_backend(fake_llama_cpp):
    opts = T.TeacherOptions(teacher="smollm2", teacher_backend="transformers")
    assert opts.load_teacher()[0] == "hf"
    assert type(T.TeacherOptions(teacher="smollm2").load_teacher()).__name__ == "LlamaCppTeacher"

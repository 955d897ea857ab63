"""`distill serve` as a user runs it: a subprocess on a free port, asked with the openai client, then stopped."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import distill
from distill.cli import build_parser
from distill.config import config_from_args
from distill.serve.server import ServeConfig, served_name
from tests.teachers.conftest import tiny_chat_model  # noqa: F401

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")


def test_serve_parses_a_positional_model_and_defaults_to_smollm2():
    cfg = config_from_args(ServeConfig, build_parser().parse_args(["serve", "runs/student/", "--port", "0"]))
    assert (cfg.model, cfg.port, cfg.host) == ("runs/student/", 0, "127.0.0.1") and served_name(cfg) == "student"
    cfg = config_from_args(ServeConfig, build_parser().parse_args(["serve"]))
    assert cfg.model == "smollm2" and served_name(cfg) == "smollm2"
    with pytest.raises(ValueError, match=r"port must be in \[0, 65535\], got 70000 \(ServeConfig.port\)"):
        ServeConfig(port=70000)


def test_missing_key_variable_is_refused(tmp_path, capsys, tiny_chat_model):  # noqa: F811
    from distill.cli import main

    os.environ.pop("DISTILL_TEST_NO_SUCH_KEY", None)
    assert main(["serve", str(tiny_chat_model), "--api-key-env", "DISTILL_TEST_NO_SUCH_KEY"]) == 2
    assert "DISTILL_TEST_NO_SUCH_KEY" in capsys.readouterr().err


@pytest.mark.slow
def test_distill_serve_subprocess_answers_the_openai_client(tiny_chat_model):  # noqa: F811
    env = os.environ | {"PYTHONPATH": str(Path(distill.__file__).parents[1]), "SERVE_KEY": "k-123"}
    p = subprocess.Popen([sys.executable, "-m", "distill", "serve", str(tiny_chat_model), "--port", "0",
                          "--served-name", "tiny", "--api-key-env", "SERVE_KEY"],
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        line, t0 = "", time.time()
        while "serving" not in line and time.time() - t0 < 120:
            line = p.stderr.readline()
            assert line or p.poll() is None, "distill serve exited early"
        url = re.search(r"(http://\S+/v1)", line).group(1)
        client = openai.OpenAI(base_url=url, api_key="k-123", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list().data] == ["tiny"]
        r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "What is distillation?"}],
                                           max_tokens=5, temperature=0)
        assert r.usage.completion_tokens == 5 and r.choices[0].finish_reason == "length"
        assert "k-123" not in line
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(30) in (0, -signal.SIGINT)

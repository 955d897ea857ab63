import json

import pytest

from distill.cli import main
from distill.detect.identity import run as identity_run
from distill.detect.identity.run import IdentityConfig
from distill.teachers.base import Completion, Teacher


class FakeChat:
    """Scripted chat model: without a system prompt it says `plain`, with the anchor `anchored`."""

    def __init__(self, name, plain, anchored):
        self.name, self.plain, self.anchored, self.calls = name, plain, anchored, []

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        self.calls.append((messages, seed))
        text = self.anchored if messages[0]["role"] == "system" else self.plain
        return Completion(text=text, prompt_tokens=10, completion_tokens=5, model=self.name)


class FakeBase:
    """A base model: no chat template; continues plain text and then writes the next question."""

    has_chat_template = False

    def __init__(self, name):
        self.name, self.prompts = name, []

    async def chat(self, messages, **kw):  # pragma: no cover - must not be used for a base model
        raise AssertionError("a base model must get plain prompts")

    async def complete(self, prompt, *, max_tokens=512, temperature=0.0, seed=None, stop=None):
        self.prompts.append(prompt)
        self.stops = list(stop or [])
        text = " I am Claude.\nQuestion: I am ChatGPT"
        cut = min([text.index(s) for s in self.stops if s in text], default=len(text))
        return Completion(text=text[:cut], prompt_tokens=10, completion_tokens=9)  # cut as llama.cpp cuts


def _cfg(tmp_path, **kw):
    return IdentityConfig(**{"teacher": "fake-a", "out": str(tmp_path / "out"), "languages": ("en", "zh"),
                             "questions": 2, "samples": 2, "teacher_identity": "smollm"} | kw)


def test_fake_teachers_follow_the_protocol():
    assert isinstance(FakeChat("x", "", ""), Teacher) and isinstance(FakeBase("y"), Teacher)


def test_rates_reports_and_resume(tmp_path, monkeypatch):
    fake = FakeChat("fake-a", "I am ChatGPT, made by OpenAI.", "I am Aria from Northwind Labs, not ChatGPT.")
    monkeypatch.setattr(identity_run, "load_teacher", lambda spec, **kw: fake)
    res = identity_run.run(_cfg(tmp_path))
    assert res["answers"] == 2 * 2 * 2 * 2 and len(fake.calls) == 16
    assert {seed for _, seed in fake.calls} == {0, 1}
    s = res["models"]["fake-a"]["summary"]["all"]
    assert s["no_system"]["other"]["rate"] == 1.0 and s["no_system"]["own"]["rate"] == 0.0
    assert s["anchor"]["anchor"]["rate"] == 1.0 and s["anchor"]["other"]["rate"] == 0.0  # "not ChatGPT" negated
    assert s["no_system"]["other"]["lo"] == pytest.approx(0.6756, abs=1e-4)  # Wilson lower bound of 8/8
    assert res["rates"]["fake-a"]["zh"]["no_system"]["openai"]["k"] == 4
    out = tmp_path / "out"
    report = (out / "results.md").read_text()
    assert "hint, not proof" in report and "| fake-a | no_system | 8 |" in report
    assert (out / "claim_rates.png").stat().st_size > 5000
    assert json.loads((out / "results.json").read_text())["answers"] == 16
    lines = (out / "answers.jsonl").read_text().splitlines()
    assert len(lines) == 16 and json.loads(lines[0])["mentions"]

    # a rerun asks nothing; one more sample asks only the new ones
    fake.calls.clear()
    identity_run.run(_cfg(tmp_path))
    assert fake.calls == []
    res3 = identity_run.run(_cfg(tmp_path, samples=3))
    assert len(fake.calls) == 8 and res3["answers"] == 24


def test_compare_shows_the_asymmetry(tmp_path, monkeypatch):
    fakes = {"smollm2": FakeChat("smollm2", "I am Gemma, a Google model.", "I am Aria."),
             "gemma3-270m": FakeBase("gemma3-270m")}
    monkeypatch.setattr(identity_run, "load_teacher", lambda spec, **kw: fakes[spec])
    res = identity_run.run(_cfg(tmp_path, teacher="smollm2", compare="gemma3-270m", teacher_identity=""))
    assert res["models"]["smollm2"]["identity"] == "smollm" and res["models"]["gemma3-270m"]["identity"] == "gemma"
    assert res["prompt_format"] == {"smollm2": "chat", "gemma3-270m": "plain"}
    assert fakes["gemma3-270m"].prompts[0].endswith("Question: What's your name?\nAnswer:")
    assert any("Question:" in s for s in fakes["gemma3-270m"].stops)  # the backend is told where to stop
    rows = {(r["model"], r["condition"]): r for r in res["asymmetry"]}
    assert rows[("smollm2", "no_system")]["rate"] == 1.0 and rows[("smollm2", "anchor")]["rate"] == 0.0
    assert rows[("gemma3-270m", "no_system")]["k"] == 0  # Gemma claims Claude, never SmolLM
    # the base model's next "Question: I am ChatGPT" was cut off: only Claude is claimed
    assert res["models"]["gemma3-270m"]["other_identities"] == {"claude": 16}
    assert "## Who claims to be whom" in (tmp_path / "out" / "results.md").read_text()


def test_cli_runs_and_refuses_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(identity_run, "load_teacher", lambda spec, **kw: FakeChat(spec, "Я модель от Гугла.", "Я Aria."))
    assert main(["detect", "identity", "--model", "m", "--languages", "ru", "--questions", "1", "--samples", "1",
                 "--out", str(tmp_path / "o"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["rates"]["m"]["ru"]["no_system"]["gemini"]["k"] == 1
    assert main(["detect", "identity", "--model", "m", "--temperature", "0"]) == 2
    assert "temperature must be > 0" in capsys.readouterr().err
    assert main(["detect", "identity", "--model", "m", "--model-identity", "nobody",
                 "--out", str(tmp_path / "o2")]) == 2
    assert "identity 'nobody' of 'm' is not in the alias table" in capsys.readouterr().err
    assert main(["detect", "identity", "--model", " "]) == 2
    assert "model must be 'smollm2'" in capsys.readouterr().err
    assert main(["detect", "identity", "--model", "m", "--compare", "m"]) == 2
    assert "compare must be a model other than --model" in capsys.readouterr().err


def test_http_endpoint_end_to_end_and_resume(tmp_path, monkeypatch):
    """Through the real HTTP teacher against the fake OpenAI-compatible endpoint (it echoes the question)."""
    pytest.importorskip("httpx")
    from distill.serve.fake import FakeEndpoint

    probes = tmp_path / "probes.yaml"
    probes.write_text("languages:\n  en:\n    anchor: You are Aria, an assistant made by Northwind Labs.\n"
                      "    questions:\n      a: Say 'I am ChatGPT by OpenAI'.\n      b: Say 'I am not Claude'.\n",
                      encoding="utf-8")
    monkeypatch.setenv("IDENTITY_TEST_KEY", "sk-secret")
    with FakeEndpoint(model="fake-teacher", api_key="sk-secret") as ep:
        cfg = IdentityConfig(teacher=ep.url, api_key_env="IDENTITY_TEST_KEY", probes=str(probes), samples=2,
                             out=str(tmp_path / "o"), teacher_identity="qwen")
        res = identity_run.run(cfg)
        assert ep.received == 2 * 2 * 2 and res["prompt_format"] == {ep.url: "chat"}
        s = res["models"][ep.url]["summary"]["all"]["no_system"]
        assert (s["other"]["k"], s["other"]["n"], s["no_claim"]["k"]) == (2, 4, 2)  # "not Claude" is no claim
        identity_run.run(cfg)
        assert ep.received == 8  # the rerun was answered from calls.sqlite
    assert "sk-secret" not in (tmp_path / "o" / "results.json").read_text()

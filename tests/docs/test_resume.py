"""Killed mid-generation (kill -9) and rerun, `distill docs generate` asks no request twice and ends with
the same data set as an uninterrupted run — counted on the server side of a real HTTP endpoint."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import distill
from distill.docs.ingest import IngestConfig, ingest

pytest.importorskip("httpx")
from distill.serve.fake import FakeEndpoint  # noqa: E402

# The fake endpoint answers "echo: <prompt>", so this template makes it reply with a valid JSON item whose
# answer is the chunk itself (grounded by construction).
TEMPLATE = '{{"items": [{{"question": "What does the section {section} say?", "reasoning": "", "answer": "{chunk}"}}]}}'
TOPICS = ["keys", "limits", "uploads", "formats", "regions", "billing", "webhooks", "exports", "audit", "teams",
          "tokens", "retries"]


def _workdir(root: Path) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True)
    for t in TOPICS:
        (docs / f"{t}.md").write_text(f"# {t.title()}\n\nThe {t} feature of the service stores {t} records for "
                                      f"ninety days and lists {t} entries by creation time.\n")
    ingest(IngestConfig(source=str(docs), out=str(root / "work")))
    (root / "template.txt").write_text(TEMPLATE)
    return root / "work"


def _generate(work: Path, url: str, template: Path) -> subprocess.Popen:
    code = "import sys; from distill.cli import main; sys.exit(main(sys.argv[1:]))"
    env = os.environ | {"PYTHONPATH": str(Path(distill.__file__).parents[1])}
    return subprocess.Popen([sys.executable, "-c", code, "docs", "generate", str(work), "--teacher", url + "/v1",
                             "--template", str(template), "--embedder", "none", "--quality.grounding", "lexical",
                             "--concurrency", "4", "--max-retries", "0", "--quality.unanswerable-fraction", "0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(cond, timeout=120):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


@pytest.mark.slow
def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    work = _workdir(tmp_path / "a")
    with FakeEndpoint(latency=0.05, capacity=4) as ep:
        ep.stall(after=5)  # answer 5 calls, then hold the rest so the kill lands with calls in flight
        p = _generate(work, ep.url, tmp_path / "a" / "template.txt")
        _wait(lambda: ep.answered >= 5 and ep.received > 5)
        time.sleep(0.5)
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait(30) == -signal.SIGKILL and not (work / "dataset").exists()
        ep.release()
        p = _generate(work, ep.url, tmp_path / "a" / "template.txt")
        assert p.wait(120) == 0
        assert ep.answered == len(TOPICS) and set(ep.by_key.values()) == {1}  # no call repeated, none lost

    fresh = tmp_path / "b"
    fresh.mkdir()
    shutil.copytree(tmp_path / "a" / "docs", fresh / "docs")
    ingest(IngestConfig(source=str(fresh / "docs"), out=str(fresh / "work")))
    with FakeEndpoint(latency=0.0) as ep2:
        assert _generate(fresh / "work", ep2.url, tmp_path / "a" / "template.txt").wait(120) == 0
        assert ep2.answered == len(TOPICS)
    for f in ("train.jsonl", "eval.jsonl", "chunks.jsonl"):
        assert (work / "dataset" / f).read_text() == (fresh / "work" / "dataset" / f).read_text()
    assert len((work / "dataset" / "train.jsonl").read_text().splitlines()) + \
        len((work / "dataset" / "eval.jsonl").read_text().splitlines()) == len(TOPICS)


def test_generate_against_distill_serve(tmp_path):
    """The docs path with a real HTTP teacher: `distill serve`'s app on a tiny chat model (its replies are
    noise, so most are malformed — what matters here is that the HTTP path runs and counts end to end)."""
    pytest.importorskip("fastapi")
    from distill.docs.generate import GenerateConfig, generate
    from distill.docs.quality import QualityConfig
    from distill.serve.app import create_app
    from distill.serve.server import ServerThread
    from distill.teachers.hf import HFEngine

    work = _workdir(tmp_path)
    chat_model = _tiny_chat_model(tmp_path / "model")
    with ServerThread(create_app(HFEngine(str(chat_model), device="cpu"), "tiny")) as server:
        res = generate(GenerateConfig(workdir=str(work), teacher=server.url + "/v1",
                                      template=str(tmp_path / "template.txt"), max_tokens=16, max_attempts=1, embedder="none", concurrency=2,
                                      quality=QualityConfig(grounding="lexical", unanswerable_fraction=0)))
        st = res["teacher_stats"]
        assert res["teacher"] == "tiny" and st["teacher_errors"] == 0
        assert st["calls"] == len(TOPICS) and st["completion_tokens"] > 0 and st["prompt_tokens"] > 0
        assert st["malformed_replies"] + res["generated"] == len(TOPICS)


def _tiny_chat_model(path):
    from tokenizers import decoders

    from tests.lm.tiny import TEXT, make_llama, make_tokenizer
    from tests.teachers.conftest import CHAT_TEMPLATE

    tok = make_tokenizer(TEXT + ["user assistant system"])
    tok.backend_tokenizer.decoder = decoders.ByteLevel()
    tok.chat_template = CHAT_TEMPLATE
    path.mkdir(parents=True)
    return make_llama(path, tok, layers=2)

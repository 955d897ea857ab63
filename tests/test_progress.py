import io
import logging
import sys

import pytest

from distill import progress


@pytest.fixture(autouse=True)
def _restore():
    yield
    progress.configure(0, False)


def _run_bar(monkeypatch, tty: bool) -> str:
    err = io.StringIO()
    err.isatty = lambda: tty
    monkeypatch.setattr(sys, "stderr", err)
    for _ in progress.bar(range(3), desc="work"):
        pass
    return err.getvalue()


def test_verbose_shows_bars_even_without_a_terminal(monkeypatch):
    progress.configure(verbose=1)
    assert "work" in _run_bar(monkeypatch, tty=False)


def test_quiet_hides_bars_on_a_terminal(monkeypatch):
    progress.configure(quiet=True)
    assert _run_bar(monkeypatch, tty=True) == ""


def test_default_leaves_bars_to_the_terminal(monkeypatch):
    progress.configure()
    assert _run_bar(monkeypatch, tty=False) == ""
    assert progress.enabled() is None  # tqdm decides: shown on a terminal
    assert progress.enabled(show=False) is False


def test_stage_lines_by_default_and_not_under_quiet(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress.configure()
    logging.getLogger("distill.somewhere").info("stage one done")
    logging.getLogger("transformers.x").info("library chatter")
    logging.getLogger("distill.somewhere").warning("odd input")
    assert err.getvalue().splitlines() == ["stage one done", "warning: distill.somewhere: odd input"]
    err.truncate(0), err.seek(0)
    progress.configure(quiet=True)
    logging.getLogger("distill.somewhere").info("stage two done")
    assert err.getvalue() == ""


def test_cli_quiet_and_verbose_flags(monkeypatch, tmp_path, capsys):
    from distill.cli import main

    seen = {}
    monkeypatch.setattr(progress, "configure", lambda verbose=0, quiet=False: seen.update(v=verbose, q=quiet))
    main(["detect", "simulate", "--records", "0", "-q", "--out", str(tmp_path)])  # fails fast on 0 records
    assert seen == {"v": 0, "q": True}

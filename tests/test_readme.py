from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    lines = ROOT.joinpath("README.md").read_text().splitlines()
    return [ln.strip() for ln in lines[:40] if ln.strip().startswith("python3 -m venv")]


def test_readme_opens_with_two_setup_commands():
    cmds = _setup_commands()
    assert len(cmds) == 2
    demo, tests = cmds
    assert "torch==2.13.0" in demo and demo.endswith("distill experiment hinton --quick")
    assert "torch==2.13.0" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    ci = ROOT.joinpath(".ci/run").read_text()
    assert _setup_commands()[1] in ci

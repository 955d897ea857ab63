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


def _readme_commands() -> tuple[list[str], list[str]]:
    """The `distill …` commands the README shows: whole ones in code blocks (continuation lines joined,
    comments dropped, `&&` / `;` / `|` chains split), and the mentions in inline code spans."""
    import re

    text = ROOT.joinpath("README.md").read_text()
    blocks = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip().removeprefix("$ ")
            for part in re.split(r"&&|;|\|", line):
                part = part.strip().strip("()").strip()
                if part.startswith("distill "):
                    blocks.append(part)
    spans = [s for s in re.findall(r"`(distill [^`]+)`", text) if not re.search(r"\||…|\.\.\.", s)]
    return blocks, spans


def _command_parser(argv: list[str]):
    """The parser of the (sub)command ``argv`` names, and the rest of ``argv``."""
    from distill.cli import build_parser

    parser = build_parser(argv)
    while argv and parser._subparsers is not None and argv[0] in parser._subparsers._group_actions[0].choices:
        parser, argv = parser._subparsers._group_actions[0].choices[argv[0]], argv[1:]
    return parser, argv


def test_every_readme_command_parses_with_its_options_and_choices():
    """Each command in a README code block parses: its options exist and its values are accepted
    (choices included); each option an inline mention names exists for that command."""
    import shlex

    from distill.cli import build_parser, with_default_subcommand

    blocks, spans = _readme_commands()
    assert len(blocks) >= 15 and len(spans) >= 15  # a broken extractor must not pass vacuously
    bad = []
    for cmd in blocks:
        argv = with_default_subcommand(shlex.split(cmd)[1:])
        try:
            build_parser(argv).parse_args(argv)
        except SystemExit as e:
            if e.code != 0:  # --help exits 0
                bad.append(cmd)
    for span in spans:
        argv = shlex.split(span)[1:]
        parser, rest = _command_parser(argv)
        unknown = [t.split("=")[0] for t in rest if t.startswith("--") and t.split("=")[0] not in parser._option_string_actions]
        if unknown:
            bad.append(f"{span} (unknown {unknown})")
    assert not bad, f"README commands the CLI rejects: {bad}"


def test_every_python_snippet_prints_what_it_computes():
    """Pasted into a script, a snippet that prints nothing looks broken."""
    import re

    snippets = re.findall(r"```python\n(.*?)```", ROOT.joinpath("README.md").read_text(), flags=re.S)
    assert len(snippets) >= 5
    for code in snippets:
        last = [ln for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")][-1]
        assert last.startswith("print("), code

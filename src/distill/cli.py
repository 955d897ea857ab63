"""The `distill` command line. Options are generated from the config dataclasses."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from distill import __version__, progress
from distill.config import add_arguments, config_from_args

log = logging.getLogger("distill")


def _read(*parts: str) -> Callable[[dict], str]:
    """Summary that prints a report file the command wrote under its ``out`` folder."""
    return lambda res: (Path(res["config"]["out"]).joinpath(*parts)).read_text("utf-8")


def _markdown(module: str) -> Callable[[dict], str]:
    """Summary made by ``module.markdown(result)``."""
    return lambda res: importlib.import_module(module).markdown(res)


@dataclass(frozen=True)
class Command:
    """One subcommand: its help, its config class and run function ("module:name"), and what it prints.

    The options come from the config dataclass; ``run(config) -> dict`` does the work and its dict is what
    ``--json`` prints; ``summary(result)`` is the human-readable report (on stderr under ``--json``).
    """

    help: str
    config: str
    run: str
    summary: Callable[[dict], str] | None = None
    see: str = ""  # what to look at next, "{out}" standing for the output folder

    def config_class(self):
        module, name = self.config.split(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, args: argparse.Namespace) -> dict:
        module, name = self.run.split(":")
        cfg = config_from_args(self.config_class(), args, args.recipe, args.command_name)
        started = time.time()
        res = getattr(importlib.import_module(module), name)(cfg)
        stream = sys.stderr if args.json else sys.stdout
        if self.summary is not None:
            print(self.summary(res), file=stream)
        out = output_folder(cfg, res)
        if out is not None:
            print(wrote(out, started, self.see.format(out=out)), file=stream)
        return res


def output_folder(cfg, res: dict) -> Path | None:
    """Where a command wrote its results: the folder its result names, else its ``out`` / ``workdir``."""
    for value in (res.get("out") if isinstance(res, dict) else None, getattr(cfg, "out", None),
                  getattr(cfg, "workdir", None)):
        if isinstance(value, str) and value and Path(value).is_dir():
            return Path(value)
    return None


def wrote(folder: Path, since: float, see: str = "", limit: int = 12) -> str:
    """The files and folders under ``folder`` written since ``since`` (a folder: how many files in it),
    one path per line so that each can be copied, then what to look at."""
    fresh = lambda p: p.stat().st_mtime >= since - 1  # file systems keep mtimes at ≥ 1 s resolution
    lines = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            n = sum(1 for f in entry.rglob("*") if f.is_file() and fresh(f))
            if n:
                lines.append(f"  {entry}/  ({n} file{'s' * (n != 1)})")
        elif fresh(entry):
            lines.append(f"  {entry}")
    if not lines:
        return f"nothing new written under {folder}/ (its results were already there)" + (f"\nsee: {see}" if see else "")
    more = len(lines) - limit
    lines = lines[:limit] + ([f"  … and {more} more"] if more > 0 else [])
    return "\n".join([f"wrote under {folder}/:", *lines] + ([f"see: {see}"] if see else []))


# (group, name) → Command: the one list of subcommands. Name "" makes a top-level command (`distill serve`).
COMMANDS: dict[tuple[str, str], Command] = {
    ("experiment", "hinton"): Command(
        "Reproduce Hinton et al. (2015): teacher, student alone, distilled student, T sweep, omitted class.",
        "distill.experiments.hinton:HintonConfig", "distill.experiments.hinton:run", _read("results.md"),
        see="cat {out}/results.md; open {out}/temperature.png"),
    ("classic", "train"): Command(
        "Classifier distillation: labels | response | feature | multi | self (born-again).",
        "distill.train.classic:ClassicConfig", "distill.train.classic:run",
        lambda r: (f"{r['mode']}: student test errors {r['student_errors']} of {r['test_size']}"
                   + (f"; teacher(s) {r['teacher_errors']}" if "teacher_errors" in r else "")
                   + f"; results in {r['config']['out']}/results.json"),
        see="cat {out}/results.md; the trained model: {out}/final/"),
    ("lm", "student"): Command(
        "Build a student by keeping a subset of the teacher's decoder layers (weights copied).",
        "distill.lm.student:StudentConfig", "distill.lm.student:run",
        lambda r: (f"student: layers {r['kept_layers']} of {r['teacher_layers']}, {r['student_parameters']:,} of "
                   f"{r['teacher_parameters']:,} parameters → {r['out']}"),
        see="distill lm train --student {out} --data CORPUS"),
    ("lm", "capture"): Command(
        "Run the teacher over a corpus once; store its top-k or sampled targets in resumable shards.",
        "distill.lm.capture:CaptureConfig", "distill.lm.capture:run",
        lambda r: (f"store {r['store']}: {r['windows']} windows, {r['tokens']:,} tokens in {r['shards']} shards, "
                   f"{'top-' if r['kind'] == 'topk' else 'sampled, draws: '}{r['k']}: {r['bytes_per_token']} "
                   f"bytes/token (dense fp16: {r['dense_fp16_bytes_per_token']:,})"),
        see="distill lm train --targets {out} --student STUDENT"),
    ("lm", "train"): Command(
        "Distill a causal LM: off-policy from a target store or a live teacher, or on-policy (GKD λ).",
        "distill.lm.train:LMTrainConfig", "distill.lm.train:run",
        lambda r: f"trained {r['steps']} steps in {r['seconds']} s → {r.get('model', r['out'])}",
        see="cat {out}/results.md; tensorboard --logdir {out}/tensorboard; distill lm eval --student {out}/model --data CORPUS"),
    ("lm", "eval"): Command(
        "Compare student and teacher: perplexity, KL, top-1 agreement, speed, size.",
        "distill.lm.evaluate:LMEvalConfig", "distill.lm.evaluate:evaluate", _markdown("distill.lm.evaluate")),
    ("lm", "quickstart"): Command(
        "Demo: teacher → half-depth student on Python's docs, KD vs CE-only side by side.",
        "distill.lm.quickstart:QuickstartConfig", "distill.lm.quickstart:run", _markdown("distill.lm.quickstart"),
        see="cat {out}/results.md; the students: {out}/kd/model, {out}/ce/model"),
    ("docs", "ingest"): Command(
        "Chunk a documentation folder (Markdown, reST, HTML, text, PDF) along its section headings.",
        "distill.docs.ingest:IngestConfig", "distill.docs.ingest:ingest",
        lambda r: (f"{r['files_read']} files → {r['chunks']} chunks in {r['sections']} sections "
                   f"({r['files_skipped']} skipped: {r['skipped_by_reason']}) → {r['chunks_file']}"),
        see="distill docs generate {out}"),
    ("docs", "generate"): Command(
        "Have the teacher write grounded question/reasoning/answer triples; filter; export the data set.",
        "distill.docs.generate:GenerateConfig", "distill.docs.generate:generate",
        lambda r: (f"{r['generated']} triples from {r['chunks_used']} chunks → {r['dataset']['items']} kept "
                   f"({r['dataset']['train']} train / {r['dataset']['eval']} eval); removed by step "
                   f"{r['filters']['rejected_by_step']}; data set card: {r['dataset']['path']}/README.md"),
        see="distill review {out}/dataset (check the data); distill docs train {out}/dataset"),
    ("docs", "train"): Command(
        "Fine-tune the student on the data set (loss on the answers only; full or LoRA).",
        "distill.docs.train:DocsTrainConfig", "distill.docs.train:train",
        lambda r: f"trained {r['steps']} steps in {r['seconds']} s → {r.get('model', r['out'])}",
        see="distill docs eval DATASET --student {out}/model; tensorboard --logdir {out}/tensorboard"),
    ("docs", "eval"): Command(
        "Student vs teacher on held-out questions: judge, F1, refusals, latency, cost per 1,000 answers.",
        "distill.docs.evaluate:DocsEvalConfig", "distill.docs.evaluate:evaluate", _markdown("distill.docs.evaluate"),
        see="cat {out}/results.md; open {out}/eval.png"),
    ("docs", "curve"): Command(
        "Train on growing subsets and plot quality against the number of examples.",
        "distill.docs.curve:DocsCurveConfig", "distill.docs.curve:curve", _markdown("distill.docs.curve"),
        see="cat {out}/results.md; open {out}/curve.png"),
    ("docs", "quickstart"): Command(
        "Demo: Python's docs → teacher-written Q&A → fine-tuned student → evaluated against the teacher.",
        "distill.docs.quickstart:DocsQuickstartConfig", "distill.docs.quickstart:run",
        _markdown("distill.docs.quickstart"),
        see="cat {out}/results.md"),
    ("review", "serve"): Command(
        "Review generated data in a local web page (also `distill review DATASET`): approve, edit, reject.",
        "distill.review.run:ReviewConfig", "distill.review.run:run"),
    ("review", "export"): Command(
        "Write the reviewed data set (approved and edited items) and a summary of the decisions.",
        "distill.review.export:ExportConfig", "distill.review.export:run", _markdown("distill.review.export"),
        see="distill docs train {out}"),
    ("serve", ""): Command(
        "Serve a local model (HF folder or 'smollm2') over an OpenAI-compatible HTTP API.",
        "distill.serve.server:ServeConfig", "distill.serve.server:run"),
    ("tabular", "run"): Command(
        "Distill a tabular teacher into a small student (out-of-fold labels); AUC, calibration, fairness, speed.",
        "distill.tabular.run:TabularRunConfig", "distill.tabular.run:run", _read("results.md"),
        see="cat {out}/results.md; open {out}/reliability.png"),
    ("tabular", "export"): Command(
        "Export a tabular run's student (encoder included) as one ONNX graph, checked against the pipeline.",
        "distill.tabular.export_run:TabularExportConfig", "distill.tabular.export_run:run",
        lambda r: (f"ONNX graph {r['model']}: probabilities within {r['max_abs_diff']:.0e} of the saved pipeline "
                   f"on {r['rows_checked']:,} rows"),
        see="python -c \"import onnxruntime; print(onnxruntime.InferenceSession('{out}/student.onnx').get_inputs())\""),
    ("detect", "traffic"): Command(
        "Scan API logs for distillation campaigns: hydra account clusters, with evidence.",
        "distill.detect.traffic:TrafficConfig", "distill.detect.traffic:run",
        lambda r: (f"{r['records']:,} records, {r['accounts']:,} accounts ({r['skipped']['total']:,} records "
                   f"skipped): {r['flagged_accounts']:,} accounts flagged in {r['clusters']} clusters in "
                   f"{r['seconds']} s → {r['out']}/report.html"),
        see="open {out}/report.html"),
    ("detect", "simulate"): Command(
        "Write API logs of a sampled scenario (operators, proxies, evasions, honest crowds) and their truth.",
        "distill.detect.scenarios.run:ScenarioConfig", "distill.detect.scenarios.run:run",
        lambda r: (f"{r['records']:,} records from {r['accounts']:,} accounts ({r['accounts_by_kind']['campaign']:,} "
                   f"campaign accounts of {len(r['operators'])} operators) → {r['logs']}; truth in {r['truth']}"),
        see="distill detect traffic {out}/logs --out {out}/scan"),
    ("detect", "identity"): Command(
        "Ask a model who it is in several languages; rates of claimed identities (--compare: two models).",
        "distill.detect.identity.run:IdentityConfig", "distill.detect.identity.run:run", _read("results.md"),
        see="cat {out}/results.md; open {out}/claim_rates.png"),
    ("detect", "watermark"): Command(
        "Test texts for our green-list watermark: z-score and p-value per text (key from the environment).",
        "distill.watermark.detect:DetectWatermarkConfig", "distill.watermark.detect:run", _read("results.md")),
    ("detect", "radioactivity"): Command(
        "Was a suspect model trained on our watermarked text? Open (weights) or closed (outputs) mode, a p-value.",
        "distill.watermark.radioactivity:RadioactivityConfig", "distill.watermark.radioactivity:run",
        _read("results.md")),
}


GROUP_HELP = {
    "experiment": "Reference experiments from the literature, reproduced.",
    "classic": "Classic (classifier) distillation.",
    "lm": "White-box distillation of causal language models.",
    "docs": "The documentation assistant: docs → teacher-written Q&A → fine-tuned student.",
    "detect": "Detecting distillation: traffic scans of API logs, scenario logs, identity probes, watermarks.",
    "review": "Human review of generated training data (`distill review DATASET` starts the page).",
    "tabular": "Tabular distillation: small fast students from strong teachers on structured data.",
}

# `distill GROUP ARGS…` where ARGS does not begin with one of GROUP's subcommands runs this one (and the
# group's usage line shows its arguments)
# (`distill review DATASET` = `distill review serve DATASET`; a data set named like a subcommand needs the long form).
DEFAULT_SUBCOMMAND = {"review": ("serve", "DATASET [OPTIONS]")}


def with_default_subcommand(argv: list[str]) -> list[str]:
    if len(argv) >= 2 and argv[0] in DEFAULT_SUBCOMMAND and argv[1] not in ("-h", "--help"):
        if argv[1] not in {name for group, name in COMMANDS if group == argv[0]}:
            return [argv[0], DEFAULT_SUBCOMMAND[argv[0]][0], *argv[1:]]
    return argv


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser. With ``argv``, only the command it names gets its options (importing its config
    module, which may import torch); the others stay names and help lines, so `distill docs ingest …`
    does not pay for importing every other part."""
    parser = argparse.ArgumentParser(
        prog="distill", description="Knowledge distillation: teachers, students, and detection of distillation."
    )
    parser.add_argument("--version", action="version", version=f"distill {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    sub_by_group: dict[str, argparse._SubParsersAction] = {}
    for (group, name), cmd in COMMANDS.items():
        if not name:  # a top-level command: no subcommand level
            p = groups.add_parser(group, help=cmd.help, description=cmd.help, allow_abbrev=False)
        else:
            if group not in sub_by_group:
                usage = None
                if group in DEFAULT_SUBCOMMAND:  # say that the short form works, as the help line does
                    sub, args = DEFAULT_SUBCOMMAND[group]
                    usage = (f"distill {group} [-h] SUBCOMMAND ...\n       distill {group} {args}  "
                             f"(= distill {group} {sub} {args})")
                g = groups.add_parser(group, help=GROUP_HELP[group], description=GROUP_HELP[group], usage=usage)
                sub_by_group[group] = g.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
            p = sub_by_group[group].add_parser(name, help=cmd.help, description=cmd.help, allow_abbrev=False)
        p.set_defaults(handler=cmd, command_name=f"{group} {name}".strip())
        if argv is not None and argv[: 2 if name else 1] != [group, name][: 2 if name else 1]:
            continue
        p.add_argument("--recipe", metavar="YAML", help="read settings from a YAML recipe; options override it")
        p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
        p.add_argument("-v", "--verbose", action="count", default=0,
                       help="progress bars also when stderr is not a terminal, timestamped logs (-vv: debug)")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or stage lines: warnings only")
        add_arguments(p, cmd.config_class())
    return parser


# Import names that differ from the distribution's name (all others: "_" → "-").
_DISTRIBUTION_OF = {"sklearn": "scikit-learn", "llama_cpp": "llama-cpp-python", "yaml": "pyyaml"}


def extra_for(module: str, group: str = "") -> str:
    """The extra of this package's metadata that installs ``module``: the one named after the command
    group when it lists it (``tabular`` for scikit-learn under `distill tabular`), else the first; "all"
    when none does."""
    import re
    from importlib.metadata import PackageNotFoundError, requires

    top = module.split(".")[0]
    dist = _DISTRIBUTION_OF.get(top, top.replace("_", "-")).lower()
    try:
        reqs = requires("distill") or []
    except PackageNotFoundError:  # run from a source tree without an install
        return "all"
    extras = []
    for req in reqs:
        m = re.match(r"^([A-Za-z0-9_.-]+)[^;]*;\s*extra\s*==\s*[\"']([^\"']+)[\"']", req)
        if m and m[1].lower().replace("_", "-") == dist and m[2] not in extras:
            extras.append(m[2])
    if not extras:
        return "all"
    return group if group in extras else extras[0]


def _missing_package(e: ModuleNotFoundError, group: str = "") -> int:
    """An optional extra is missing: say which install fixes it."""
    extra = extra_for(e.name or "", group)
    print(f"distill: error: this command needs the Python package {e.name!r}; install it with "
          f"pip install 'distill[{extra}]' (from a checkout: pip install -e '.[{extra}]').", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = with_default_subcommand(sys.argv[1:] if argv is None else list(argv))
    try:
        args = build_parser(argv).parse_args(argv)  # imports the chosen command's config module
    except ModuleNotFoundError as e:
        return _missing_package(e, argv[0] if argv else "")
    progress.configure(args.verbose, args.quiet)
    handler, group = args.handler, args.group
    for k in ("group", "command", "handler", "verbose", "quiet"):  # command_name stays: the recipe check reads it
        vars(args).pop(k, None)  # top-level commands have no "command"
    try:
        result = handler(args)
    except ModuleNotFoundError as e:
        return _missing_package(e, group)
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"distill: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    return 0

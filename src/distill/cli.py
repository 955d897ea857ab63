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

from distill import __version__, progress
from distill.config import add_arguments, config_from_args

log = logging.getLogger("distill")


@dataclass(frozen=True)
class Command:
    """One subcommand: its help, its config class and run function ("module:name"), and what to look at next.

    The options come from the config dataclass; ``run(config)`` does the work and returns a
    :class:`distill.results.Result`: the mapping ``--json`` prints, whose ``summary()`` is the human-readable
    report (on stderr under ``--json``).
    """

    help: str
    config: str
    run: str
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
        summary = res.summary()  # may build a whole report: once
        if summary:
            print(summary, file=stream)
        out = output_folder(cfg, res)
        if out is not None:
            print(wrote(out, started, self.see.format(out=out)), file=stream)
        return res


def output_folder(cfg, res: dict) -> Path | None:
    """Where a command wrote its results: the folder its result names, else its ``out`` / ``workdir``.

    Args:
        cfg: the command's config (any object); its ``out`` and ``workdir`` attributes are read when present.
        res: the command's result mapping; its ``"out"`` entry, when a string, is tried first.

    Returns:
        The first of those that names an existing folder, or None when none does (a command that
        writes nothing, such as `distill list`).
    """
    for value in (res.get("out") if isinstance(res, dict) else None, getattr(cfg, "out", None),
                  getattr(cfg, "workdir", None)):
        if isinstance(value, str) and value and Path(value).is_dir():
            return Path(value)
    return None


def wrote(folder: Path, since: float, see: str = "", limit: int = 12) -> str:
    """The files and folders under ``folder`` written since ``since`` (a folder: how many files in it),
    one path per line so that each can be copied, then what to look at.

    Args:
        folder: the command's output folder; only its direct entries are listed (a sub-folder as one
            line with the count of fresh files anywhere under it).
        since: a Unix time in seconds (``time.time()`` when the command started); entries modified
            up to 1 s before it count as fresh, for file systems with 1 s mtime resolution.
        see: what to look at next, printed last as ``see: …``; "" prints no such line.
        limit: the most entries listed; the rest are counted in one ``… and N more`` line.

    Returns:
        The report, several lines without a trailing newline; a single "nothing new written" line
        (plus ``see:``) when nothing under ``folder`` is fresh.
    """
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
        "distill.experiments.hinton:HintonConfig", "distill.experiments.hinton:run",
        see="cat {out}/results.md; open {out}/temperature.png"),
    ("experiment", "weak-teacher"): Command(
        "Weak teachers: teacher size × budget × student size × loss mix, on Fashion-MNIST MLPs and tiny LMs.",
        "distill.experiments.weak_teacher:WeakTeacherConfig", "distill.experiments.weak_teacher:run",
        see="cat {out}/results.md; open {out}/gain.png"),
    ("experiment", "diffusion"): Command(
        "Distilled diffusion (BK-SDM): a block-removed U-Net trained from scratch, with output KD, with feature KD.",
        "distill.experiments.diffusion:DiffusionConfig", "distill.experiments.diffusion:run",
        see="cat {out}/results.md; open {out}/fd.png {out}/seed*/samples_*.png"),
    ("classic", "train"): Command(
        "Classifier distillation: labels | response | feature | multi | self (born-again).",
        "distill.train.classic:ClassicConfig", "distill.train.classic:run",
        see="cat {out}/results.md; the trained model: {out}/final/"),
    ("lm", "student"): Command(
        "Build a student from the teacher: keep a subset of its layers, or prune by importance (--prune).",
        "distill.lm.student:StudentConfig", "distill.lm.student:run",
        see="distill lm train --student {out} --data CORPUS"),
    ("lm", "capture"): Command(
        "Run the teacher over a corpus once; store its top-k or sampled targets in resumable shards.",
        "distill.lm.capture:CaptureConfig", "distill.lm.capture:run",
        see="distill lm train --targets {out} --student STUDENT"),
    ("lm", "train"): Command(
        "Distill a causal LM: off-policy from a target store or a live teacher, or on-policy (GKD λ).",
        "distill.lm.train:LMTrainConfig", "distill.lm.train:run",
        see="cat {out}/results.md; tensorboard --logdir {out}/tensorboard; distill lm eval --student {out}/model --data CORPUS"),
    ("lm", "eval"): Command(
        "Compare student and teacher: perplexity, KL, top-1 agreement, speed, size.",
        "distill.lm.evaluate:LMEvalConfig", "distill.lm.evaluate:evaluate"),
    ("lm", "quickstart"): Command(
        "Demo: teacher → half-depth student on Python's docs, KD vs CE-only side by side.",
        "distill.lm.quickstart:QuickstartConfig", "distill.lm.quickstart:run",
        see="cat {out}/results.md; the students: {out}/kd/model, {out}/ce/model"),
    ("docs", "ingest"): Command(
        "Chunk a documentation folder (Markdown, reST, HTML, text, PDF) along its section headings.",
        "distill.docs.ingest:IngestConfig", "distill.docs.ingest:ingest",
        see="distill docs generate {out}"),
    ("docs", "generate"): Command(
        "Have the teacher write grounded question/reasoning/answer triples; filter; export the data set.",
        "distill.docs.generate:GenerateConfig", "distill.docs.generate:generate",
        see="distill review {out}/dataset (check the data); distill docs train {out}/dataset"),
    ("docs", "train"): Command(
        "Fine-tune the student on the data set (loss on the answers only; full or LoRA).",
        "distill.docs.train:DocsTrainConfig", "distill.docs.train:train",
        see="distill docs eval DATASET --student {out}/model; tensorboard --logdir {out}/tensorboard"),
    ("docs", "eval"): Command(
        "Student vs teacher on held-out questions: judge, F1, refusals, latency, cost per 1,000 answers.",
        "distill.docs.evaluate:DocsEvalConfig", "distill.docs.evaluate:evaluate",
        see="cat {out}/results.md; open {out}/eval.png"),
    ("docs", "curve"): Command(
        "Train on growing subsets and plot quality against the number of examples.",
        "distill.docs.curve:DocsCurveConfig", "distill.docs.curve:curve",
        see="cat {out}/results.md; open {out}/curve.png"),
    ("docs", "quickstart"): Command(
        "Demo: Python's docs → teacher-written Q&A → fine-tuned student → evaluated against the teacher.",
        "distill.docs.quickstart:DocsQuickstartConfig", "distill.docs.quickstart:run",
        see="cat {out}/results.md"),
    ("review", "serve"): Command(
        "Review generated data in a local web page (also `distill review DATASET`): approve, edit, reject.",
        "distill.review.run:ReviewConfig", "distill.review.run:run"),
    ("review", "export"): Command(
        "Write the reviewed data set (approved and edited items) and a summary of the decisions.",
        "distill.review.export:ExportConfig", "distill.review.export:run",
        see="distill docs train {out}"),
    ("label", "run"): Command(
        "Have a teacher label texts (a class or entity spans) against a JSON schema; retried, recorded, resumable.",
        "distill.label.run:LabelRunConfig", "distill.label.run:run",
        see="cat {out}/results.md; distill review {out}/review --sample 0.05; distill label train {out}"),
    ("label", "train"): Command(
        "Train compact students on the labels; score them against gold, the teacher and reviewed labels.",
        "distill.label.train:LabelTrainConfig", "distill.label.train:run",
        see="cat {out}/results.md"),
    ("list", ""): Command(
        "List what each registry holds: divergences, target kinds, teacher forms, students, architectures.",
        "distill.catalog:ListConfig", "distill.catalog:run"),
    ("serve", ""): Command(
        "Serve a local model (HF folder or 'smollm2') over an OpenAI-compatible HTTP API.",
        "distill.serve.server:ServeConfig", "distill.serve.server:run"),
    ("tabular", "run"): Command(
        "Distill a tabular teacher into a small student (out-of-fold labels); AUC, calibration, fairness, speed.",
        "distill.tabular.run:TabularRunConfig", "distill.tabular.run:run",
        see="cat {out}/results.md; open {out}/reliability.png"),
    ("tabular", "export"): Command(
        "Export a tabular run's student (encoder included) as one ONNX graph, checked against the pipeline.",
        "distill.tabular.export_run:TabularExportConfig", "distill.tabular.export_run:run",
        see="python -c \"import onnxruntime; print(onnxruntime.InferenceSession('{out}/student.onnx').get_inputs())\""),
    ("private", "run"): Command(
        "PATE: teachers on disjoint partitions of private data, noisy votes (GNMax), a student; accuracy vs ε.",
        "distill.private.run:PrivateRunConfig", "distill.private.run:run",
        see="cat {out}/results.md"),
    ("export", "gguf"): Command(
        "Write a llama-architecture model folder as one GGUF file (f16, q8_0 or f32) for llama.cpp; checked on read-back.",
        "distill.lm.export_run:GGUFExportConfig", "distill.lm.export_run:run",
        see="distill serve --help (a .gguf teacher: --teacher FILE.gguf with the llamacpp extra)"),
    ("detect", "traffic"): Command(
        "Scan API logs for distillation campaigns: hydra account clusters, with evidence.",
        "distill.detect.traffic:TrafficConfig", "distill.detect.traffic:run",
        see="open {out}/report.html"),
    ("detect", "simulate"): Command(
        "Write API logs of a sampled scenario (operators, proxies, evasions, honest crowds) and their truth.",
        "distill.detect.scenarios.run:ScenarioConfig", "distill.detect.scenarios.run:run",
        see="distill detect traffic {out}/logs --out {out}/scan"),
    ("detect", "identity"): Command(
        "Ask a model who it is in several languages; rates of claimed identities (--compare: two models).",
        "distill.detect.identity.run:IdentityConfig", "distill.detect.identity.run:run",
        see="cat {out}/results.md; open {out}/claim_rates.png"),
    ("detect", "attribution-collect"): Command(
        "Ask N models the same (multilingual) prompts; record every answer, resumably.",
        "distill.detect.attribution.collect:AttributionCollectConfig", "distill.detect.attribution.collect:collect",
        see="distill detect attribution-train {out}/answers.jsonl"),
    ("detect", "attribution-train"): Command(
        "Which model wrote this? TF-IDF and embedding classifiers, split by prompt, with 'none of these'.",
        "distill.detect.attribution.train:AttributionTrainConfig", "distill.detect.attribution.train:train",
        see="cat {out}/results.md; open {out}/confusion_tfidf.png"),
    ("detect", "attribution-predict"): Command(
        "Per text: the probability of each source, or 'none of these'.",
        "distill.detect.attribution.predict:AttributionPredictConfig", "distill.detect.attribution.predict:predict"),
    ("detect", "lineage"): Command(
        "Did this student learn from that teacher? Similarity vs references, permutation test, Holm.",
        "distill.detect.attribution.lineage:LineageConfig", "distill.detect.attribution.lineage:run",
        see="cat {out}/results.md"),
    ("detect", "lineage-white-box"): Command(
        "Open weights: teacher-forced KL and top-1 agreement of a suspect with candidates vs references, Holm.",
        "distill.detect.attribution.whitebox:WhiteBoxLineageConfig", "distill.detect.attribution.whitebox:run",
        see="cat {out}/results.md"),
    ("eval", "safety"): Command(
        "Refusals on harmful probes and over-refusals on benign look-alikes (--compare: teacher vs student).",
        "distill.evaluate.safety:SafetyConfig", "distill.evaluate.safety:run",
        see="cat {out}/results.md; less {out}/answers.jsonl"),
    ("detect", "watermark"): Command(
        "Test texts for our green-list watermark: z-score and p-value per text (key from the environment).",
        "distill.watermark.detect:DetectWatermarkConfig", "distill.watermark.detect:run", see="cat {out}/results.md"),
    ("detect", "radioactivity"): Command(
        "Was a suspect model trained on our watermarked text? Open (weights) or closed (outputs) mode, a p-value.",
        "distill.watermark.radioactivity:RadioactivityConfig", "distill.watermark.radioactivity:run",
        see="cat {out}/results.md"),
}


GROUP_HELP = {
    "experiment": "Reference experiments from the literature, reproduced.",
    "classic": "Classic (classifier) distillation.",
    "lm": "White-box distillation of causal language models.",
    "docs": "The documentation assistant: docs → teacher-written Q&A → fine-tuned student.",
    "detect": "Detecting distillation: traffic scans of API logs, scenario logs, identity probes, provenance, watermarks.",
    "eval": "Evaluations beyond task quality: whether the teacher's safety behaviour transferred.",
    "label": "LLM labels → compact production models: teacher-labelled classes or entities, students, review.",
    "review": "Human review of generated training data (`distill review DATASET` starts the page).",
    "tabular": "Tabular distillation: small fast students from strong teachers on structured data.",
    "private": "Private training by PATE (Papernot et al.): teachers on private data, a student on noisy votes.",
    "export": "Ship a model as a single file: GGUF for llama.cpp.",
}

# `distill GROUP ARGS…` where ARGS does not begin with one of GROUP's subcommands runs this one (and the
# group's usage line shows its arguments)
# (`distill review DATASET` = `distill review serve DATASET`; a data set named like a subcommand needs the long form).
DEFAULT_SUBCOMMAND = {"review": ("serve", "DATASET [OPTIONS]")}


def with_default_subcommand(argv: list[str]) -> list[str]:
    """Insert a group's default subcommand when the arguments do not name one (see ``DEFAULT_SUBCOMMAND``).

    Args:
        argv: the command-line arguments without the program name, e.g. ``["review", "data/"]``.

    Returns:
        ``argv`` with the default subcommand inserted after the group (``["review", "serve", "data/"]``),
        or ``argv`` itself when the group has no default, the second word is already one of its
        subcommands, or it asks for help.
    """
    if len(argv) >= 2 and argv[0] in DEFAULT_SUBCOMMAND and argv[1] not in ("-h", "--help"):
        if argv[1] not in {name for group, name in COMMANDS if group == argv[0]}:
            return [argv[0], DEFAULT_SUBCOMMAND[argv[0]][0], *argv[1:]]
    return argv


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser. With ``argv``, only the command it names gets its options (importing its config
    module, which may import torch); the others stay names and help lines, so `distill docs ingest …`
    does not pay for importing every other part.

    Args:
        argv: the arguments to be parsed (without the program name), used only to pick the command
            whose options are added; None adds the options of every command (imports them all).

    Returns:
        The ``distill`` parser. Each (sub)command sets defaults ``handler`` (its :class:`Command`) and
        ``command_name`` (e.g. ``"lm train"``).

    Raises:
        ModuleNotFoundError: a chosen command's config module needs an optional extra that is not installed.
    """
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
    when none does.

    Args:
        module: the import name that was missing, dotted or not (``"sklearn.linear_model"``); its top
            level is mapped to a distribution name (``sklearn`` → ``scikit-learn``).
        group: the command group that was run (``"tabular"``), preferred when several extras list it; "".

    Returns:
        The extra's name, for ``pip install 'distill[EXTRA]'``; "all" also when the package is not installed.
    """
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
    """Run the ``distill`` command line: parse, run the chosen command, print its result.

    Args:
        argv: the arguments without the program name; None reads ``sys.argv[1:]``.

    Returns:
        The process exit status: 0 on success, 2 when an optional package is missing or the command
        failed with a ``ValueError`` / ``OSError`` (the message is printed on stderr, with no traceback).
        Bad options exit through argparse (``SystemExit(2)``) instead.
    """
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

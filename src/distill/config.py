"""Typed configuration: frozen dataclasses are the one source of truth.

Each field is documented once, in ``field(metadata={"help": ...})``. From the same
dataclass this module derives the command-line options (``add_arguments``) and reads
YAML recipes (``load_config``); values are checked in each class's ``__post_init__``,
so a bad value fails at the door whichever way it came in. Nested dataclasses appear on
the command line with a dotted prefix (``--train.lr 0.1``) and in YAML as a mapping.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

C = TypeVar("C")


def doc(help: str, flag: str | None = None, **kw: Any) -> Any:
    """``dataclasses.field`` with its help text (and, rarely, a command-line flag other than
    ``--field-name``); ``default`` / ``default_factory`` as usual."""
    meta = {"help": help} | ({"flag": flag} if flag else {})
    return dataclasses.field(metadata=meta, **kw)


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _coerce(name: str, tp, value: Any) -> Any:
    """Convert ``value`` (from YAML or argparse) to type ``tp``, or raise naming ``name``."""
    tp, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ValueError(f"{name} must not be empty.")
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be a mapping of {tp.__name__} fields, got {value!r}.")
        return from_dict(tp, value, prefix=f"{name}.")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        elem = args[0] if args else str
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_coerce(f"{name}[{i}]", elem, v) for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ValueError(f"{name} must be true or false, got {value!r}.")
    if tp in (int, float, str):
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}.")
        if tp in (int, float) and isinstance(value, bool):
            raise ValueError(f"{name} must be a number, got {value!r}.")
        try:
            return tp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be {tp.__name__}, got {value!r}.") from None
    return value


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build ``cls`` from a plain mapping, converting types; unknown keys are errors."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields), key=str)  # a YAML key may be a number
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} setting(s) {[prefix + str(u) for u in unknown]}; "
            f"known: {sorted(prefix + f for f in fields)}."
        )
    hints = _hints(cls)
    kwargs = {k: _coerce(prefix + k, hints[k], v) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain, YAML/JSON-serializable mapping of a config (tuples become lists)."""

    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


def load_config(cls: type[C], path: str | Path) -> C:
    """Read a YAML recipe into ``cls``. Only plain YAML: no tags that import or run code."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"recipe {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except UnicodeDecodeError as e:
        raise ValueError(f"recipe {path} is not UTF-8 (byte {e.start}).") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"recipe {path}{where} is not valid YAML ({getattr(e, 'problem', None) or e}).") from None
    except RecursionError:
        raise ValueError(f"recipe {path} is nested too deeply to be a recipe.") from None
    if not isinstance(data, dict):
        raise ValueError(f"recipe {path} must be a YAML mapping of {cls.__name__} settings.")
    return from_dict(cls, data)


def add_arguments(parser: argparse.ArgumentParser, cls, prefix: str = "") -> None:
    """Add one option per field of ``cls`` (recursively for nested dataclasses).

    Options default to ``argparse.SUPPRESS`` so that ``config_from_args`` can tell what the
    user actually typed and layer it over a recipe and the dataclass defaults.
    """
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp, _ = _unwrap_optional(hints[f.name])
        dest = prefix + f.name
        if dataclasses.is_dataclass(tp):
            add_arguments(parser, tp, prefix=dest + ".")
            continue
        flag = f.metadata.get("flag") or "--" + dest.replace("_", "-")
        if prefix and not flag.startswith("-"):  # only the top level has positional arguments
            flag = "--" + dest.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )
        help_text = f.metadata.get("help", "")
        help_text = f"{help_text} (default: {default!r})" if help_text else f"default: {default!r}"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %: a literal "50%" must not break --help
        kw: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text}
        if not flag.startswith("-"):  # a positional argument: `distill serve MODEL`, `distill detect traffic LOGS...`
            nargs = "*" if typing.get_origin(tp) is tuple else "?"
            parser.add_argument(dest, nargs=nargs, metavar=flag.upper(), default=argparse.SUPPRESS, help=help_text)
            continue
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(tp) is Literal:
            parser.add_argument(flag, choices=typing.get_args(tp), **kw)
        elif typing.get_origin(tp) is tuple:  # `--x a b --x c` gives (a, b, c), not the last group alone
            parser.add_argument(flag, nargs="*", action="extend", metavar="VALUE", **kw)
        else:
            parser.add_argument(flag, metavar=tp.__name__.upper() if isinstance(tp, type) else "VALUE", **kw)


def config_from_args(cls: type[C], args: argparse.Namespace, recipe: str | Path | None = None) -> C:
    """Defaults ← YAML recipe (if any) ← options given on the command line."""
    data: dict[str, Any] = {}
    if recipe:
        data = to_dict(load_config(cls, recipe))
    given = {k: v for k, v in vars(args).items()}
    for key, value in given.items():
        parts = key.split(".")
        node = data
        if not _is_field_path(cls, parts):
            continue
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return from_dict(cls, data)


def _is_field_path(cls, parts: list[str]) -> bool:
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if parts[0] not in names:
        return False
    if len(parts) == 1:
        return True
    tp, _ = _unwrap_optional(hints[parts[0]])
    return dataclasses.is_dataclass(tp) and _is_field_path(tp, parts[1:])


def check(condition: bool, name: str, value: Any, allowed: str) -> None:
    """Raise ``ValueError("name must be <allowed>, got <value>.")`` unless ``condition``."""
    if not condition:
        raise ValueError(f"{name} must be {allowed}, got {value!r}.")

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
import logging
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

C = TypeVar("C")


def doc(help: str, flag: str | None = None, *, group: str | None = None, fixed: tuple[str, ...] = (),
        choices: tuple[str, ...] | None = None, ge: float | None = None, gt: float | None = None,
        le: float | None = None, lt: float | None = None, required: bool = False, was: str | None = None,
        **kw: Any) -> Any:
    """``dataclasses.field`` with its help text; ``default`` / ``default_factory`` as usual.

    Ranges, choices and ``required`` are checked by :func:`validate` for classes made with
    :func:`settings`, and shown in ``--help``.

    Args:
        help: the field's help text. One that states its own default ("(default: …)") is printed
            as written.
        flag: a command-line flag other than ``--field-name`` (a name without dashes makes it positional).
        group: the heading it is listed under in ``--help`` (fields without one go under "options").
        fixed: for a nested settings class, its fields that the command sets itself: they are neither
            options nor recipe keys of this command (``docs curve`` sets each run's data and output folder).
        choices: the allowed values of a ``str`` field whose values come from a registry (a ``Literal``
            type says the same for a fixed list); checked on the command line and in recipes alike.
        ge: inclusive lower bound: a number (each element of a tuple) must be ≥ ``ge``.
        gt: exclusive lower bound (> ``gt``).
        le: inclusive upper bound (≤ ``le``).
        lt: exclusive upper bound (< ``lt``).
        required: the field has no useful default; an empty value is refused.
        was: the field's previous name, still accepted (with a deprecation warning) as a recipe key and a
            command-line flag for one release.
        **kw: passed to ``dataclasses.field`` (``default``, ``default_factory``, ...).

    Returns:
        The ``dataclasses.Field``, with these settings in its ``metadata``.
    """
    meta = {"help": help} | ({"flag": flag} if flag else {}) | ({"group": group} if group else {})
    meta |= ({"fixed": tuple(fixed)} if fixed else {}) | ({"choices": tuple(choices)} if choices else {})
    meta |= {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    meta |= ({"required": True} if required else {}) | ({"was": was} if was else {})
    return dataclasses.field(metadata=meta, **kw)


def _renamed(cls, fields: dict, data: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``data`` with deprecated setting names replaced by the current ones (a warning for each)."""
    old = {f.metadata["was"]: name for name, f in fields.items() if f.metadata.get("was")}
    if not set(data) & set(old):
        return data
    out = dict(data)
    for was, name in old.items():
        if was in out:
            if name in out:
                raise ValueError(f"{prefix}{was} and {prefix}{name} are the same setting ({was} is its old name); "
                                 f"give {prefix}{name} only.")
            warn_renamed(prefix + was, prefix + name)
            out[name] = out.pop(was)
    return out


def warn_renamed(was: str, now: str) -> None:
    """Say that a setting was renamed: a ``DeprecationWarning`` and a warning on the distill logger.

    Args:
        was: the old name, as the user gave it (a recipe key or a flag).
        now: the current name.
    """
    import warnings

    warnings.warn(f"the setting {was!r} is now called {now!r}; the old name is accepted until distill 0.3.",
                  DeprecationWarning, stacklevel=3)
    logging.getLogger("distill").warning("%r is now called %r; the old name is accepted until distill 0.3", was, now)


_BOUNDS = {"ge": ("≥", lambda v, b: v >= b), "gt": ("> ", lambda v, b: v > b),
           "le": ("≤", lambda v, b: v <= b), "lt": ("< ", lambda v, b: v < b)}


def allowed_range(f: dataclasses.Field) -> str:
    """A field's declared range as a reader writes it: ``≥ 1``, ``in [0, 1)``, ``> 0``.

    Args:
        f: a field made with :func:`doc`.

    Returns:
        The range, or "" when the field declares none.
    """
    m = f.metadata
    lo = next((k for k in ("ge", "gt") if k in m), None)
    hi = next((k for k in ("le", "lt") if k in m), None)
    if lo and hi:
        return f"in {'[' if lo == 'ge' else '('}{m[lo]:g}, {m[hi]:g}{']' if hi == 'le' else ')'}"
    if lo or hi:
        k = lo or hi
        return f"{_BOUNDS[k][0].strip()} {m[k]:g}"
    return ""


def validate(obj: Any) -> None:
    """Check every declared rule of a settings object (ranges, choices, required); the message names
    the field, the value, what is allowed and the class.

    Args:
        obj: a dataclass instance whose fields were made with :func:`doc`.

    Raises:
        ValueError: a required field is empty, a value is not among its choices, or a number
            (of a tuple, any element) is outside its range.
    """
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        m = f.metadata
        where = f"({type(obj).__name__}.{f.name})"
        if m.get("required") and v in ("", (), None):
            raise ValueError(f"{f.name} is required {where}: {m.get('help', '')}.")
        if m.get("choices") and v not in ("", None):
            bad = [x for x in v if x not in m["choices"]] if isinstance(v, tuple) else [v] * (v not in m["choices"])
            if bad:
                each = "each" if isinstance(v, tuple) else "one"
                raise ValueError(f"{f.name} must be {each} of {list(m['choices'])}, got {v!r} {where}.")
        bounds = [k for k in _BOUNDS if k in m]
        if not bounds or v is None:
            continue
        for x in (v if isinstance(v, tuple) else (v,)):
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                continue
            if not all(_BOUNDS[k][1](x, m[k]) for k in bounds):
                raise ValueError(f"{f.name} must be {allowed_range(f)}, got {v!r} {where}.")


def settings(cls: type[C]) -> type[C]:
    """``@dataclass(frozen=True)`` whose declared rules (``doc(ge=…, choices=…, required=…)``) are checked
    on every construction — from the command line, a recipe or Python — before the class's own
    ``__post_init__`` checks the rules that tie several fields together."""
    own = cls.__dict__.get("__post_init__")

    def __post_init__(self):
        validate(self)
        post = own or next((k.__dict__["__post_init__"] for k in cls.__mro__[1:] if "__post_init__" in k.__dict__),
                           None)
        if post is not None:
            post(self)

    __post_init__.validates = True  # lets a test check that every settings class is made this way
    cls.__post_init__ = __post_init__
    return dataclasses.dataclass(frozen=True)(cls)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _group(cls, name: str) -> str | None:
    """A field's help heading; a subclass that overrides a field's default keeps its parent's heading."""
    for klass in cls.__mro__:
        f = getattr(klass, "__dataclass_fields__", {}).get(name)
        if f is not None and f.metadata.get("group"):
            return f.metadata["group"]
    return None


def not_options(cls) -> frozenset[str]:
    """Fields of ``cls`` that its command sets itself (``NOT_OPTIONS`` on a class that reuses another's
    settings, e.g. ``docs train``'s on-policy fields): not on its command line, refused in its recipes."""
    return frozenset(getattr(cls, "NOT_OPTIONS", ()))


def _shown_default(value: Any) -> str:
    """A default as a user would type it: ``labels``, ``1 2 3``, ``none``."""
    if value is None or value == "" or value == ():
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    return str(value)


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


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "", fixed: frozenset[str] = frozenset(),
              base: Any = None) -> C:
    """Build ``cls`` from a plain mapping, converting types; unknown keys are errors, and so are
    ``fixed`` ones (fields the command sets itself). With ``base`` (an instance of ``cls``: a nested
    field's default), the mapping changes that instance's values instead of the class defaults.

    Args:
        cls: the dataclass to build.
        data: setting name → value (nested dataclasses as mappings); old names are accepted with
            a warning.
        prefix: prepended to names in error messages (``"train."`` for a nested field).
        fixed: fields the command sets itself; refused unless given with the value they have.
        base: an instance of ``cls`` whose values the mapping changes (None: the class defaults).

    Returns:
        The ``cls`` instance.

    Raises:
        ValueError: an unknown or fixed key, a value that does not convert to its field's type,
            a setting given under both its old and new name, or what ``cls``'s own checks refuse.
    """
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    data = _renamed(cls, fields, data, prefix)

    def unchanged(k) -> bool:  # a saved config (to_dict) names them with the values the command gave them
        current = getattr(base, k) if base is not None else _field_default(fields[k])
        return to_dict(current) == (list(data[k]) if isinstance(data[k], tuple) else data[k])

    refused = sorted((k for k in set(data) & (not_options(cls) | fixed) if k in fields and not unchanged(k)), key=str)
    if refused:
        raise ValueError(f"{[prefix + str(r) for r in refused]} cannot be set here: this command sets "
                         f"{'it' if len(refused) == 1 else 'them'} itself.")
    unknown = sorted(set(data) - set(fields), key=str)  # a YAML key may be a number
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} setting(s) {[prefix + str(u) for u in unknown]}; "
            f"known: {sorted(prefix + f for f in fields)}."
        )
    hints = _hints(cls)
    kwargs = {}
    for k, v in data.items():
        tp, _ = _unwrap_optional(hints[k])
        if dataclasses.is_dataclass(tp) and isinstance(v, dict):  # settings given on top of the field's default
            kwargs[k] = from_dict(tp, v, prefix=f"{prefix}{k}.", fixed=frozenset(fields[k].metadata.get("fixed", ())),
                                  base=_field_default(fields[k]))
        else:
            kwargs[k] = _coerce(prefix + k, hints[k], v)
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain, YAML/JSON-serializable mapping of a config (tuples become lists).

    Args:
        cfg: a dataclass instance (nested ones become mappings, paths strings).

    Returns:
        Field name → plain value.
    """

    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


def load_config(cls: type[C], path: str | Path, command: str | None = None) -> C:
    """Read a YAML recipe into ``cls``. Only plain YAML: no tags that import or run code.

    Args:
        cls: the settings dataclass.
        path: the recipe file.
        command: the command reading it (e.g. ``"lm train"``); a recipe for another is refused.

    Returns:
        The ``cls`` instance.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a UTF-8 YAML mapping, names another command, or holds a
            setting ``from_dict`` refuses.
    """
    return from_dict(cls, read_recipe(cls, path, command))


def recipe_command(path: str | Path) -> str | None:
    """The command a recipe says it is for (its ``command:`` key, e.g. ``"lm train"``), if it says.

    Args:
        path: the recipe file.

    Returns:
        The ``command:`` value, or None when the recipe has none (or is not a mapping).
    """
    data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    return data.get("command") if isinstance(data, dict) else None


def read_recipe(cls, path: str | Path, command: str | None = None) -> dict[str, Any]:
    """A YAML recipe's settings, unchecked against ``cls`` (``from_dict`` checks them).

    A recipe names its command (``command: lm train``); read for another ``command`` it is refused,
    since its keys would be read as another command's settings.

    Args:
        cls: the settings dataclass (its name goes into error messages).
        path: the recipe file.
        command: the command reading it; None accepts a recipe for any command.

    Returns:
        The recipe's mapping without its ``command:`` key.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not UTF-8, not valid YAML, nested too deeply, not a mapping, or
            for another command.
    """
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
    said = data.pop("command", None)
    if said is not None and command is not None and " ".join(str(said).split()) != command:
        raise ValueError(f"recipe {path} is for `distill {said}`, not `distill {command}`.")
    return data


def add_arguments(parser: argparse.ArgumentParser, cls, prefix: str = "", skip: frozenset[str] = frozenset(),
                  heading: str | None = None, defaults: Any = None) -> None:
    """Add one option per field of ``cls`` (recursively for nested dataclasses, under their own heading).

    Options default to ``argparse.SUPPRESS`` so that ``config_from_args`` can tell what the
    user actually typed and layer it over a recipe and the dataclass defaults. Fields in ``skip``
    or the class's ``NOT_OPTIONS`` are set by the command, not offered. ``defaults``: the instance whose
    values the help shows (a nested field's own default, which may differ from its class's).

    Args:
        parser: the command's parser.
        cls: the settings dataclass.
        prefix: the dotted path of a nested class (``"train."``), prepended to option names.
        skip: fields not offered as options.
        heading: the ``--help`` heading of fields without a ``group`` (None: "options").
        defaults: an instance of ``cls`` whose values the help shows (None: the class defaults).
    """
    hints = _hints(cls)
    skip = skip | not_options(cls)
    sections: dict[str, Any] = {}

    def section(title: str | None):
        if title is None:
            return parser
        if title not in sections:
            sections[title] = parser.add_argument_group(title)
        return sections[title]

    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        tp, _ = _unwrap_optional(hints[f.name])
        dest = prefix + f.name
        default = _field_default(f) if defaults is None else getattr(defaults, f.name)
        if dataclasses.is_dataclass(tp):
            title = f.metadata.get("help") or (tp.__doc__ or tp.__name__).strip().splitlines()[0]
            add_arguments(parser, tp, prefix=dest + ".", skip=frozenset(f.metadata.get("fixed", ())),
                          heading=f"--{dest}.* : {title}", defaults=default)
            continue
        target = section(_group(cls, f.name) or heading)
        flag = f.metadata.get("flag") or "--" + dest.replace("_", "-")
        if prefix and not flag.startswith("-"):  # only the top level has positional arguments
            flag = "--" + dest.replace("_", "-")
        help_text = f.metadata.get("help", "")
        rule = allowed_range(f)
        if f.metadata.get("required") or (not flag.startswith("-") and default in ("", (), None)):
            help_text = f"{help_text} (required{'; ' + rule if rule else ''})"
        elif "(default" not in help_text:  # a help text that explains its default says it once
            help_text = f"{help_text} (default: {_shown_default(default)}{'; ' + rule if rule else ''})".strip()
        elif rule:
            help_text = f"{help_text} ({rule})"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %: a literal "50%" must not break --help
        metavar = f.name.upper()
        kw: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text}
        if not flag.startswith("-"):  # a positional argument: `distill serve MODEL`, `distill detect traffic LOGS...`
            nargs = "*" if typing.get_origin(tp) is tuple else "?"
            target.add_argument(dest, nargs=nargs, metavar=flag.upper(), default=argparse.SUPPRESS, help=help_text)
            continue
        if tp is bool:
            target.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(tp) is tuple:  # `--x a b --x c` gives (a, b, c), not the last group alone
            elem = (typing.get_args(tp) or (str,))[0]
            if typing.get_origin(elem) is Literal or f.metadata.get("choices"):
                kw["choices"] = f.metadata.get("choices") or typing.get_args(elem)
            target.add_argument(flag, nargs="*", action="extend", metavar=metavar.rstrip("S") or metavar, **kw)
        elif typing.get_origin(tp) is Literal or f.metadata.get("choices"):
            target.add_argument(flag, choices=f.metadata.get("choices") or typing.get_args(tp), **kw)
        else:
            target.add_argument(flag, metavar=metavar, **kw)
        if f.metadata.get("was") and flag.startswith("-"):  # the old flag, hidden, warns and sets the same value
            old = "--" + (prefix + f.metadata["was"]).replace("_", "-")
            kind = target._option_string_actions[flag]
            target.add_argument(old, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                                action=_Renamed, nargs=kind.nargs, type=kind.type, choices=kind.choices,
                                metavar=metavar, now=flag)


class _Renamed(argparse.Action):
    """A deprecated flag: stores its value under the new setting, with a warning."""

    def __init__(self, option_strings, dest, now: str, **kw):
        self.now = now
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        warn_renamed(option_string, self.now)
        setattr(namespace, self.dest, values)


def config_from_args(cls: type[C], args: argparse.Namespace, recipe: str | Path | None = None,
                     command: str | None = None) -> C:
    """Defaults ← YAML recipe (if any; refused when it names another command) ← options given on the
    command line.

    Args:
        cls: the settings dataclass.
        args: the parsed options (from a parser set up by ``add_arguments``); entries that are not
            fields of ``cls`` are ignored.
        recipe: the YAML recipe file, if any.
        command: the command being run (e.g. ``"lm train"``), for ``read_recipe``'s check.

    Returns:
        The ``cls`` instance.

    Raises:
        FileNotFoundError: ``recipe`` does not exist.
        ValueError: a bad recipe or a setting ``from_dict`` refuses.
    """
    data: dict[str, Any] = {}
    if recipe:
        data = read_recipe(cls, recipe, command)
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
    """Raise ``ValueError("name must be <allowed>, got <value>.")`` unless ``condition``.

    Args:
        condition: the rule holds.
        name: the setting's name.
        value: its value.
        allowed: what is allowed, as a phrase ("> 0", "one of ...").

    Raises:
        ValueError: ``condition`` is false.
    """
    if not condition:
        raise ValueError(f"{name} must be {allowed}, got {value!r}.")

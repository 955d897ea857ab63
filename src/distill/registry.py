"""Registries: the named things a command accepts, each described once where it is defined.

A :class:`Registry` is a read-only mapping from a name to its entry (whatever the module stores:
a builder function, a :class:`~distill.losses.DivergenceEntry`, ...) plus, per name, a one-line
summary, and the command-line options that accept the names (``where``). The CLI's choices, the
config ``Literal``s and `distill list` read the registry, so a new entry is one edit; a test checks
that every entry of every registry is reachable from each option it names.

Importing this module imports nothing heavy: a registry is defined in the module that owns its
entries, and :data:`REGISTRIES` says where each one lives ("module:NAME"), imported when listed.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

E = TypeVar("E")


@dataclass(frozen=True)
class Described(Generic[E]):
    """One registered thing: what it is (``entry``) and a line that says what it does."""

    entry: E
    summary: str


class Registry(Mapping[str, E]):
    """Name → entry, in the order given, with a summary per name and the options that accept the names.

    Args:
        what: what one entry is, in the singular ("divergence", "tabular student").
        entries: name → :class:`Described` (entry and summary).
        where: the command-line options that take these names, as ``"COMMAND --option"``
            (e.g. ``"lm train --loss"``).
    """

    def __init__(self, what: str, entries: Mapping[str, Described[E]], where: tuple[str, ...] = ()):
        self.what = what
        self.where = tuple(where)
        self._entries = dict(entries)
        self._summaries = {name: d.summary for name, d in entries.items()}
        self._items = {name: d.entry for name, d in entries.items()}

    def __getitem__(self, name: str) -> E:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._items)})"

    def summary(self, name: str) -> str:
        """The one-line description of ``name``.

        Args:
            name: a registered name.

        Returns:
            Its summary.
        """
        return self._summaries[name]

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (the order ``--help`` and `distill list` show).

        Returns:
            The names.
        """
        return tuple(self._items)

    def get_or_raise(self, name: str) -> E:
        """The entry called ``name``, or an error that lists the registered names.

        Args:
            name: the name a user gave.

        Returns:
            The entry.

        Raises:
            ValueError: ``name`` is not registered.
        """
        if name not in self._items:
            raise ValueError(f"unknown {self.what} {name!r}; choose one of {list(self._items)}.")
        return self._items[name]

    def describe(self) -> str:
        """A Markdown table of the entries (name, summary) and the options that accept them.

        Returns:
            The table, headed by what the entries are.
        """
        width = max(len(n) for n in self._items) if self._items else 0
        lines = [f"{self.what}s" + (f" ({', '.join(f'`distill {w}`' for w in self.where)})" if self.where else "")]
        lines += [f"  {name:<{width}}  {self._summaries[name]}" for name in self._items]
        return "\n".join(lines)


def registry(what: str, where: tuple[str, ...] = (), **entries: tuple[Any, str]) -> Registry:
    """A :class:`Registry` from keyword arguments ``name=(entry, summary)`` (names that are not Python
    identifiers: build the ``Registry`` directly).

    Args:
        what: what one entry is.
        where: the options that accept the names (``"COMMAND --option"``).
        **entries: name → (entry, summary).

    Returns:
        The registry.
    """
    return Registry(what, {name: Described(e, s) for name, (e, s) in entries.items()}, where)


# Every registry of the package: its `distill list` name → where it is defined. Listing imports the module.
REGISTRIES: dict[str, str] = {
    "divergences": "distill.losses:DIVERGENCES",
    "targets": "distill.targets.store:TARGET_KINDS",
    "teachers": "distill.teachers:TEACHER_FORMS",
    "embedded": "distill.lm.models:EMBEDDED",
    "architectures": "distill.models:ARCHITECTURES",
    "tabular-students": "distill.tabular.students:STUDENTS",
    "tabular-teachers": "distill.tabular.students:TEACHERS",
    "private-models": "distill.private.run:MODELS",
}


def load(name: str) -> Registry:
    """The registry listed as ``name`` in :data:`REGISTRIES` (its module imported).

    Args:
        name: a key of :data:`REGISTRIES`.

    Returns:
        The registry.

    Raises:
        ValueError: ``name`` is not a registry.
    """
    if name not in REGISTRIES:
        raise ValueError(f"unknown registry {name!r}; choose one of {list(REGISTRIES)}.")
    module, attr = REGISTRIES[name].split(":")
    return getattr(importlib.import_module(module), attr)

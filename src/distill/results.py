"""What a command returns: a typed result with its own human-readable ``summary()``.

Every command's ``run`` returns a :class:`Result` subclass. A result *is* the mapping that
``--json`` prints and ``results.json`` holds (so it stays a plain, JSON-able ``dict``), and its class
says which keys it always has (annotations, checked when it is made: a run that forgot one fails
at once, not in a user's script) and how to say it in words (``summary()``: what the CLI prints,
and for commands with a report, the text of ``results.md``).

    class CaptureResult(Result):
        store: str
        windows: int

        def summary(self) -> str:
            return f"store {self['store']}: {self['windows']} windows"
"""

from __future__ import annotations

import json
import typing
from typing import Any

_SIMPLE = (int, float, str, bool, list, dict)


class Result(dict):
    """A command's result: ``dict`` of JSON-able values whose annotated keys are required.

    Args:
        data: the result's values (a mapping).
        report: the command's Markdown report, when it writes one; ``summary()`` returns it unless the
            subclass says otherwise.

    Raises:
        KeyError: an annotated key is missing.
        TypeError: an annotated key holds a value of another simple type (int, float, str, bool, list, dict;
            an int is accepted where a float is declared).
    """

    def __init__(self, data: dict[str, Any] | None = None, report: str = "", **values: Any):
        super().__init__(data or {}, **values)
        self.report = report
        for key, tp in self.declared().items():
            if key not in self:
                raise KeyError(f"{type(self).__name__} needs {key!r}; it has {sorted(self)}.")
            origin = typing.get_origin(tp) or tp
            if origin in _SIMPLE and self[key] is not None:
                ok = isinstance(self[key], origin) or (origin is float and isinstance(self[key], int))
                if not ok or (origin in (int, float) and isinstance(self[key], bool)):
                    raise TypeError(f"{type(self).__name__}[{key!r}] must be {origin.__name__}, "
                                    f"got {type(self[key]).__name__} {self[key]!r}.")

    @classmethod
    def declared(cls) -> dict[str, Any]:
        """The keys this kind of result always holds, with their types.

        Returns:
            Key → type, from the annotations of the class and its bases below :class:`Result`.
        """
        hints: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            if issubclass(klass, Result) and klass is not Result:
                hints |= typing.get_type_hints(klass)
        return {k: v for k, v in hints.items() if k != "report"}

    def summary(self) -> str:
        """What the command prints when it is done.

        Returns:
            The report when there is one, else the result as indented JSON.
        """
        return self.report or json.dumps(self, indent=2, default=str)

"""`distill list`: what each registry holds (divergences, target kinds, teacher forms, students, ...)."""

from __future__ import annotations

from distill.config import doc, settings
from distill.registry import REGISTRIES, load
from distill.results import Result


@settings
class ListConfig:
    """Settings of `distill list`."""

    what: str = doc("which registry to list (default: all of them)", flag="what", default="",
                    choices=tuple(REGISTRIES))


class ListResult(Result):
    """What `distill list` returns: registry name → what its entries are, where they are accepted, the entries."""

    def summary(self) -> str:
        return markdown(self)


def run(cfg: ListConfig) -> ListResult:
    """Every entry of the registries ``cfg`` names, with its summary and the options that accept it.

    Args:
        cfg: the settings (``what``: one registry, or "" for all).

    Returns:
        Registry name → {"what", "where", "entries": name → summary}.
    """
    names = [cfg.what] if cfg.what else list(REGISTRIES)
    out = {}
    for name in names:
        reg = load(name)
        out[name] = {"what": reg.what, "where": [f"distill {w}" for w in reg.where],
                     "entries": {entry: reg.summary(entry) for entry in reg}}
    return ListResult(out)


def markdown(result: dict) -> str:
    """The listing as plain text: one block per registry, one line per entry.

    Args:
        result: what :func:`run` returned.

    Returns:
        The text.
    """
    return "\n\n".join(load(name).describe() for name in result)

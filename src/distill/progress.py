"""What a long command shows while it works: progress bars, one line per stage, and quiet libraries.

The command line sets the mode once (``configure``); library code only calls ``bar(...)`` and
logs stages with ``logging.getLogger(__name__).info``. Modes:

- ``"auto"`` (default): bars when stderr is a terminal; stage lines always (the ``distill``
  loggers print INFO as bare lines).
- ``"on"`` (``-v``): bars also when stderr is a file or pipe (refreshed at most every 10 s there,
  so a log stays readable), timestamps on log lines.
- ``"off"`` (``--quiet``): no bars, warnings and errors only.

Outside the command line (a notebook, a script) bars follow tqdm's own rule: shown on a terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Iterable, Literal, TypeVar

from tqdm import tqdm

T = TypeVar("T")
Mode = Literal["auto", "on", "off"]
_mode: Mode = "auto"


def configure(verbose: int = 0, quiet: bool = False) -> Mode:
    """Set the mode for this process from ``-v`` / ``--quiet``; set up logging; quiet the libraries.

    Args:
        verbose: how many ``-v``: 0 is mode "auto" with bare INFO lines; 1 is mode "on" with
            timestamped INFO lines; 2 or more also logs DEBUG and leaves the libraries as they are.
        quiet: ``--quiet``: mode "off", the distill loggers at WARNING (wins over ``verbose``
            for the mode).

    Returns:
        The mode set: "auto", "on" or "off".
    """
    global _mode
    _mode = "off" if quiet else ("on" if verbose else "auto")
    root = logging.getLogger()
    for h in list(root.handlers):  # a second call (tests) replaces, not stacks, our handler
        if getattr(h, "distill", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.distill = True
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    else:
        handler.setFormatter(_BareInfo())
        root.setLevel(logging.WARNING)
    root.addHandler(handler)
    # The distill loggers say what stage a command is in; libraries speak only when something is wrong.
    logging.getLogger("distill").setLevel(logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO))
    quiet_libraries(verbose)
    return _mode


class _BareInfo(logging.Formatter):
    """INFO lines as the message alone; warnings and errors say so and name their source."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.INFO:
            return record.getMessage()
        return f"{record.levelname.lower()}: {record.name}: {record.getMessage()}"


def quiet_libraries(verbose: int = 0) -> None:
    """Silence progress bars and advisory logging that are not ours (HF hub, transformers, datasets).

    Environment variables reach libraries not yet imported; the calls reach those already imported.
    ``-vv`` leaves them as they are.

    Args:
        verbose: how many ``-v``; above 1 nothing is changed.
    """
    if verbose > 1:
        return
    for var in ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TRANSFORMERS_NO_ADVISORY_WARNINGS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "transformers" in sys.modules:
        from transformers.utils import logging as tf_logging

        tf_logging.set_verbosity_error()
        tf_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


def mode() -> Mode:
    return _mode


def enabled(show: bool = True) -> bool | None:
    """tqdm's ``disable`` argument, negated: True shows, None leaves it to tqdm (terminal only).

    Args:
        show: False hides the bar whatever the mode.

    Returns:
        False when ``show`` is False or the mode is "off", True in mode "on", None in mode "auto".
    """
    if not show or _mode == "off":
        return False
    return True if _mode == "on" else None


def bar(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
        initial: int = 0, leave: bool = False, show: bool = True, **kw) -> tqdm:
    """A tqdm bar on stderr that follows the mode: ``for x in bar(xs, desc="eval")`` or ``bar(total=n)``.

    ``show=False`` hides it whatever the mode (a process other than the main one, a caller that asked for
    none). Finished bars vanish (``leave=False``); the stage line logged after them stays.

    Args:
        iterable: what to iterate over, or None for a bar updated by hand.
        total: the expected number of iterations (default: ``len(iterable)`` where tqdm finds it).
        desc: the bar's label.
        unit: the name of one iteration.
        initial: the count the bar starts at (a resumed run).
        leave: keep the finished bar on screen.
        show: False hides the bar whatever the mode.
        **kw: further ``tqdm`` arguments; they override the defaults set here.

    Returns:
        The ``tqdm`` bar, writing to stderr.
    """
    on = enabled(show)
    interactive = sys.stderr.isatty() if hasattr(sys.stderr, "isatty") else False
    extra = {} if interactive else {"mininterval": 10.0}  # a log file gets a line every 10 s, not a torrent
    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=sys.stderr,
                disable=(None if on is None else not on), dynamic_ncols=True, **(extra | kw))

"""The watermark's secret key: bytes from an environment variable whose *name* the user gives.

The key is never logged, never written into results, and never part of an object's ``repr``; results
name the variable only. :class:`SecretKey` wraps the bytes so that an accidental ``print`` or f-string
shows ``SecretKey(<hidden>)``.
"""

from __future__ import annotations

import os


class SecretKey:
    """Key bytes that do not show themselves (``repr``/``str`` hide them)."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes):
        """Wrap key bytes.

        Args:
            value: the key, at least one byte.

        Raises:
            ValueError: an empty key.
        """
        if not isinstance(value, bytes) or not value:
            raise ValueError("a watermark key must be non-empty bytes.")
        self._value = value

    def reveal(self) -> bytes:
        """The key bytes (for the keyed hash only).

        Returns:
            The key.
        """
        return self._value

    def __repr__(self) -> str:
        return "SecretKey(<hidden>)"

    __str__ = __repr__

    def __reduce__(self):  # no pickling into result files or caches
        raise TypeError("a SecretKey cannot be pickled.")


def read_key(env_name: str) -> SecretKey:
    """The key held by the environment variable ``env_name`` (its UTF-8 bytes).

    Args:
        env_name: the variable's name (the key itself is never passed on the command line).

    Returns:
        The key.

    Raises:
        ValueError: no name given, or the variable is unset or empty (the message names the variable only).
    """
    if not env_name:
        raise ValueError("watermark_key_env: give the NAME of an environment variable holding the key.")
    value = os.environ.get(env_name)
    if not value:
        raise ValueError(f"watermark_key_env names the environment variable {env_name!r}, which is not set or empty.")
    return SecretKey(value.encode("utf-8"))

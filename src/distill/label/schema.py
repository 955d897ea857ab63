"""The JSON schema a labelling reply must satisfy, and the check of a reply against it.

Classification: ``{"label": one of LABELS}``. Entity extraction: ``{"entities": [{"text": …, "type": one of
TYPES}, …]}``. A reply is the first JSON object in the teacher's text (code fences and prose around it are
tolerated, as in :mod:`distill.docs.parse`); it is then validated with ``jsonschema`` when that is installed,
else with :func:`strict_errors`, a small validator of the same keywords (type, enum, required, properties,
additionalProperties, items, minLength, maxItems) — both reject anything the schema does not allow.
"""

from __future__ import annotations

import json

from distill.docs.parse import Malformed, _json_candidates

__all__ = ["Malformed", "classification_schema", "ner_schema", "parse_reply", "strict_errors", "validate"]


def classification_schema(labels: tuple[str, ...] | list[str]) -> dict:
    """The schema of a classification reply.

    Args:
        labels: the allowed labels.

    Returns:
        A JSON schema (draft 2020-12 keywords) for ``{"label": <one of labels>}``.
    """
    return {"type": "object", "properties": {"label": {"type": "string", "enum": list(labels)}},
            "required": ["label"], "additionalProperties": False}


def ner_schema(types: tuple[str, ...] | list[str], max_entities: int = 20) -> dict:
    """The schema of an entity-extraction reply.

    Args:
        types: the allowed entity types.
        max_entities: the most entities a reply may list.

    Returns:
        A JSON schema for ``{"entities": [{"text": <non-empty>, "type": <one of types>}, …]}``.
    """
    ent = {"type": "object", "properties": {"text": {"type": "string", "minLength": 1},
                                            "type": {"type": "string", "enum": list(types)}},
           "required": ["text", "type"], "additionalProperties": False}
    return {"type": "object", "properties": {"entities": {"type": "array", "items": ent, "maxItems": max_entities}},
            "required": ["entities"], "additionalProperties": False}


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is_type(value, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def strict_errors(value, schema: dict, path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (the keywords this module's schemas use; others are refused).

    Args:
        value: the decoded JSON value.
        schema: a schema using type, enum, required, properties, additionalProperties (bool), items,
            minLength and maxItems only.
        path: where ``value`` sits (for the messages).

    Returns:
        The errors, ``"PATH: what is wrong"``; empty when ``value`` is valid.

    Raises:
        ValueError: the schema uses a keyword this validator does not implement.
    """
    known = {"type", "enum", "required", "properties", "additionalProperties", "items", "minLength", "maxItems"}
    unknown = sorted(set(schema) - known)
    if unknown:
        raise ValueError(f"strict_errors does not implement schema keyword(s) {unknown}; install jsonschema.")
    if "type" in schema and not _is_type(value, schema["type"]):
        return [f"{path}: expected {schema['type']}, got {type(value).__name__}"]
    errs = []
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errs.append(f"{path}: shorter than {schema['minLength']} characters")
    if isinstance(value, dict):
        errs += [f"{path}: missing required {k!r}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        if schema.get("additionalProperties", True) is False:
            errs += [f"{path}: unexpected key {k!r}" for k in sorted(set(value) - set(props))]
        for k, sub in props.items():
            if k in value:
                errs += strict_errors(value[k], sub, f"{path}.{k}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, v in enumerate(value):
                errs += strict_errors(v, schema["items"], f"{path}[{i}]")
    return errs


def validate(value, schema: dict, *, use_jsonschema: bool | None = None) -> list[str]:
    """Errors of ``value`` against ``schema``: jsonschema's when installed (or asked for), else :func:`strict_errors`.

    Args:
        value: the decoded reply.
        schema: the schema.
        use_jsonschema: True: jsonschema (ImportError if missing); False: the strict validator; None: jsonschema
            when installed.

    Returns:
        The error messages, sorted; empty when valid.
    """
    if use_jsonschema is not False:
        try:
            import jsonschema
        except ImportError:
            if use_jsonschema:
                raise
        else:
            v = jsonschema.Draft202012Validator(schema)
            return sorted(f"${''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in e.absolute_path)}: "
                          f"{e.message}" for e in v.iter_errors(value))
    return sorted(strict_errors(value, schema))


def parse_reply(text: str, schema: dict, *, use_jsonschema: bool | None = None) -> dict:
    """The first JSON object in a teacher's reply that satisfies ``schema``.

    Args:
        text: the reply.
        schema: the schema it must satisfy.
        use_jsonschema: as :func:`validate`.

    Returns:
        The decoded, valid object.

    Raises:
        Malformed: no JSON object in the reply, or none valid (the message lists the first object's errors).
    """
    first_errors = None
    for cand in _json_candidates(text or ""):
        try:
            obj = json.loads(cand)
        except (json.JSONDecodeError, RecursionError):
            continue
        errs = validate(obj, schema, use_jsonschema=use_jsonschema)
        if not errs:
            return obj
        first_errors = first_errors or errs
    if first_errors:
        raise Malformed("; ".join(first_errors[:3]))
    raise Malformed("no JSON object in the reply")

"""Refuse, before any query, what PostgreSQL can't store: a 400 naming the field.

A request must never earn a 500 for its content: Alertmanager retries a 5xx forever, and
the whole group (a P1 in it too) is never stored. So everything the database would reject
is caught here, with one walk over the parsed document (or over one alert of it: see
``router.payload``): NUL characters (``\\u0000``, which
neither ``text`` nor ``jsonb`` accepts), lone surrogates (not UTF-8), NaN and Infinity and
numbers beyond a float (not JSON, or not storable), absurd nesting, and, in the callers,
timestamps out of range and booleans where an integer is due (``True`` is an ``int`` in
Python). Messages name the field and the problem, never the value (it may be PHI), and
never a label's name (payload data too): ``alerts[0].labels: a value contains NUL``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 32                       # the webhook needs 4; leave room for future fields
BIGINT = (-(2**63), 2**63 - 1)       # PostgreSQL bigint range: ids


class PayloadError(ValueError):
    """The input is malformed; ``field`` names where (``alerts[2].startsAt``)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


class _BadNumber:
    """Stands in for NaN, Infinity or a number beyond a double while parsing, so the walk
    can say which field held it (the webhook refuses that alert, not the whole group)."""

    def __repr__(self) -> str:
        return "<bad number>"


BAD_NUMBER = _BadNumber()


def _constant(name: str) -> Any:
    return BAD_NUMBER


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else BAD_NUMBER


def text_problem(value: str) -> str | None:
    """Why PostgreSQL can't store this string, or None."""
    if "\x00" in value:
        return "contains NUL (\\u0000), which PostgreSQL can't store"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not UTF-8)"
    return None


def problem_in(doc: Any, field: str) -> PayloadError | None:
    """Walk ``doc`` (iteratively: depth is what is being checked) and return a PayloadError
    for the first string PostgreSQL can't store, bad number, or nesting deeper than
    MAX_DEPTH; None if there is none."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        where = _join(field, path)
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return PayloadError(where, f"a value {problem}")
        elif value is BAD_NUMBER:
            return PayloadError(where, "NaN, Infinity or a number beyond a double")
        elif isinstance(value, Mapping | list):
            if depth >= MAX_DEPTH:
                return PayloadError(where, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, Mapping):
                for key, item in value.items():
                    problem = text_problem(key)
                    if problem:
                        return PayloadError(where, f"a key {problem}")
                    name = (f"{path}.{key}" if path else key) if _plain(key) else path
                    stack.append((item, name, depth + 1))
            else:
                stack.extend((item, f"{path}[{i}]" if path else f"[{i}]", depth + 1)
                             for i, item in enumerate(value))
    return None


def _join(field: str, path: str) -> str:
    """``alerts[3]`` + ``labels`` -> ``alerts[3].labels``; the whole body is not named:
    ``body`` + ``alerts[0].labels`` -> ``alerts[0].labels``."""
    if not path:
        return field
    if path.startswith("["):
        return field + path
    return path if field == "body" else f"{field}.{path}"


def _plain(key: str) -> bool:
    """Field names of the protocol (``alerts``, ``startsAt``) are named in errors; keys
    that are payload data (label names: ``patient_name``) are not."""
    return key in _PROTOCOL_KEYS


_PROTOCOL_KEYS = frozenset({
    "version", "groupKey", "truncatedAlerts", "receiver", "status", "alerts", "groupLabels",
    "commonLabels", "commonAnnotations", "externalURL", "labels", "annotations", "startsAt",
    "endsAt", "generatorURL", "fingerprint", "who", "note", "type", "severity", "description",
    "created_by", "alert_ids"})


def parse(body: bytes, field: str = "body") -> Any:
    """Parse a JSON request body: strict UTF-8 and JSON syntax, else PayloadError. NaN,
    Infinity and numbers beyond a double parse as BAD_NUMBER, for ``problem_in`` to place."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(field, "not valid UTF-8") from None
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise PayloadError(field, f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise PayloadError(field, "not valid JSON") from None


def loads(body: bytes, field: str = "body") -> Any:
    """``parse``, then refuse the whole body if anything in it can't be stored."""
    doc = parse(body, field)
    problem = problem_in(doc, field)
    if problem:
        raise problem
    return doc


def is_id(value: Any) -> bool:
    """An integer PostgreSQL's bigint holds; not a boolean."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and BIGINT[0] <= value <= BIGINT[1])

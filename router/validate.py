"""Refuse, before any query, what PostgreSQL can't store: a 400 naming the field.

A request must never earn a 500 for its content: Alertmanager retries a 5xx forever, and
the whole group (a P1 in it too) is never stored. So everything the database would reject
is caught here, with one walk over the parsed document: NUL characters (``\\u0000``, which
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


def _constant(name: str) -> Any:
    raise PayloadError("body", "NaN and Infinity are not JSON numbers")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError("body", "a number is out of range")
    return value


def text_problem(value: str) -> str | None:
    """Why PostgreSQL can't store this string, or None."""
    if "\x00" in value:
        return "contains NUL (\\u0000), which PostgreSQL can't store"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not UTF-8)"
    return None


def check_tree(doc: Any, field: str) -> None:
    """Walk ``doc`` (iteratively: depth is what is being checked) and raise PayloadError
    for the first string PostgreSQL can't store or nesting deeper than MAX_DEPTH."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        where = path or field
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise PayloadError(where, f"a value {problem}")
        elif isinstance(value, Mapping | list):
            if depth >= MAX_DEPTH:
                raise PayloadError(where, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, Mapping):
                for key, item in value.items():
                    problem = text_problem(key)
                    if problem:
                        raise PayloadError(where, f"a key {problem}")
                    name = (f"{path}.{key}" if path else key) if _plain(key) else path
                    stack.append((item, name, depth + 1))
            else:
                stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))


def _plain(key: str) -> bool:
    """Field names of the protocol (``alerts``, ``startsAt``) are named in errors; keys
    that are payload data (label names: ``patient_name``) are not."""
    return key in _PROTOCOL_KEYS


_PROTOCOL_KEYS = frozenset({
    "version", "groupKey", "truncatedAlerts", "receiver", "status", "alerts", "groupLabels",
    "commonLabels", "commonAnnotations", "externalURL", "labels", "annotations", "startsAt",
    "endsAt", "generatorURL", "fingerprint", "who", "note", "type", "severity", "description",
    "created_by", "alert_ids"})


def loads(body: bytes, field: str = "body") -> Any:
    """Parse a JSON request body strictly (UTF-8, no NaN/Infinity, finite numbers) and
    check every string and the nesting; raise PayloadError naming the field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(field, "not valid UTF-8") from None
    try:
        doc = json.loads(text, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise PayloadError(field, f"nested deeper than {MAX_DEPTH} levels") from None
    except PayloadError:
        raise
    except ValueError:
        raise PayloadError(field, "not valid JSON") from None
    check_tree(doc, field)
    return doc


def is_id(value: Any) -> bool:
    """An integer PostgreSQL's bigint holds; not a boolean."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and BIGINT[0] <= value <= BIGINT[1])

"""YAML to frozen, typed config objects: shape first, meaning second.

``build(cls, data)`` walks a frozen dataclass's type hints and converts the
parsed YAML into it, collecting *every* problem with its YAML path
(``targets[0].dsn: field required``) before raising one ``ConfigError``.
Each package then checks cross-references (the meaning) in its own
``load_config``.

Supported field types: str, int, float, bool, ``Seconds`` (durations such as
``15s``, ``5m``, ``1h30m``, ``500ms``, or a bare number of seconds unless the loader says
``units_required``: in a file a person wrote, ``interval: 60`` could mean anything), ``Dsn``,
``Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, ...]``,
``dict[str, X]`` and nested frozen dataclasses. A dataclass may raise
``ValueError`` from ``__post_init__``; the message is reported at its path. A dataclass may
name keys it no longer has in a ``RETIRED_FIELDS`` class variable (key: what to write
instead): such a key is reported at its path with that sentence, not as an unknown field, so
an old config fails at load and says how to fix it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from vigil.core import durations, secrets
from vigil.core.errors import ConfigError

T = TypeVar("T")


class _SecondsMarker:
    """Annotated marker: parse a duration string into float seconds."""


Seconds = Annotated[float, _SecondsMarker()]

# The config grammar of vigil.core.durations, under the name config users know.
parse_duration = durations.parse


class Dsn(str):
    """A PostgreSQL DSN. Its repr is redacted and its password is registered for scrubbing."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Dsn({secrets.redact_dsn(str(self))!r})"

    @property
    def redacted(self) -> str:
        return secrets.redact_dsn(str(self))


class Secret(str):
    """A secret string (token, password); its repr never shows the value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"


# ${VAR} or ${VAR:-default}; $${ escapes a literal ${.
_ENV = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: str, path: str, errors: list[tuple[str, str]],
                env: typing.Mapping[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        if name in env:
            if _looks_secret(name):
                secrets.register(env[name])
            return env[name]
        if default is not None:
            return default
        errors.append((path, f"environment variable {name} is not set (use ${{{name}:-default}} "
                             "for an optional value)"))
        return ""

    return _ENV.sub(repl, value)


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in ("PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL"))


def _expand_env(data: Any, path: str, errors: list[tuple[str, str]],
                env: typing.Mapping[str, str]) -> Any:
    # Substituted after parsing, so an env value can never inject YAML structure.
    if isinstance(data, str):
        return _substitute(data, path, errors, env)
    if isinstance(data, list):
        return [_expand_env(v, f"{path}[{i}]", errors, env) for i, v in enumerate(data)]
    if isinstance(data, dict):
        return {k: _expand_env(v, _join(path, str(k)), errors, env) for k, v in data.items()}
    return data


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    if tp is _SECONDS_BASE:
        return "duration"
    return getattr(tp, "__name__", str(tp))


_SECONDS_BASE = float


class _Builder:
    def __init__(self, units_required: bool = False) -> None:
        self.errors: list[tuple[str, str]] = []
        self.units_required = units_required

    def fail(self, path: str, msg: str) -> Any:
        self.errors.append((path, msg))
        return None

    def convert(self, tp: Any, value: Any, path: str) -> Any:
        origin = get_origin(tp)
        if origin is Annotated:
            base, *meta = get_args(tp)
            if any(isinstance(m, _SecondsMarker) for m in meta):
                if self.units_required and isinstance(value, int | float) \
                        and not isinstance(value, bool):
                    return self.fail(path, f"a duration needs a unit: write {value:g}s (or "
                                           "ms, m, h, d, w), not a bare number")
                try:
                    return durations.parse(value)
                except ValueError as exc:
                    return self.fail(path, str(exc))
            return self.convert(base, value, path)
        if origin in (Union, types.UnionType):
            options = get_args(tp)
            if value is None and type(None) in options:
                return None
            non_none = [o for o in options if o is not type(None)]
            if len(non_none) == 1:
                return self.convert(non_none[0], value, path)
            return self.fail(path, f"unsupported union type {tp}")
        if origin is Literal:
            allowed = get_args(tp)
            if value in allowed:
                return value
            return self.fail(path, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        if origin in (list, tuple):
            if not isinstance(value, list):
                return self.fail(path, f"expected a list, got {type(value).__name__}")
            item_tp = get_args(tp)[0]
            items = [self.convert(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
        if origin is dict:
            key_tp, val_tp = get_args(tp)
            if not isinstance(value, dict):
                return self.fail(path, f"expected a mapping, got {type(value).__name__}")
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    self.fail(path, f"keys must be strings, got {k!r}")
                    continue
                out[k] = self.convert(val_tp, v, _join(path, k))
            return types.MappingProxyType(out) if key_tp is str else out
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.dataclass(tp, value, path)
        return self.scalar(tp, value, path)

    def scalar(self, tp: Any, value: Any, path: str) -> Any:
        if value is None:
            return self.fail(path, f"expected {_type_name(tp)}, got null")
        if tp is bool:
            if isinstance(value, bool):
                return value
            return self.fail(path, f"expected true or false, got {value!r}")
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            return self.fail(path, f"expected an integer, got {value!r}")
        if tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            return self.fail(path, f"expected a number, got {value!r}")
        if tp in (str, Dsn, Secret):
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                return self.fail(path, f"expected a string, got {type(value).__name__}")
            text = str(value)
            if tp is Dsn:
                secrets.register_dsn(text)
                return Dsn(text)
            if tp is Secret:
                secrets.register(text)
                return Secret(text)
            return text
        if tp is Any:
            return value
        return self.fail(path, f"unsupported type {tp}")

    def dataclass(self, cls: type[Any], value: Any, path: str) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            return self.fail(path, f"expected a mapping, got {type(value).__name__}")
        hints = get_type_hints(cls, include_extras=True)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        kwargs: dict[str, Any] = {}
        before = len(self.errors)
        retired: dict[str, str] = getattr(cls, "RETIRED_FIELDS", {})
        for key in value:
            if key in retired:
                self.fail(_join(path, str(key)), retired[key])
            elif key not in fields:
                close = difflib.get_close_matches(str(key).replace("-", "_"), fields, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(_join(path, str(key)), f"unknown field{hint}")
        for name, field in fields.items():
            sub = _join(path, name)
            if name in value:
                kwargs[name] = self.convert(hints[name], value[name], sub)
            elif (field.default is dataclasses.MISSING
                  and field.default_factory is dataclasses.MISSING):
                self.fail(sub, "field required")
        if len(self.errors) != before:
            return None
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            return self.fail(path, str(exc))


def build(cls: type[T], data: Any, source: str = "<config>", *,
          units_required: bool = False) -> T:
    """Convert parsed YAML into ``cls``; raise ConfigError listing every problem.
    ``units_required``: a bare number is refused where a duration is expected."""
    builder = _Builder(units_required)
    result = builder.dataclass(cls, data, "")
    if builder.errors:
        raise ConfigError(source, builder.errors)
    return typing.cast(T, result)


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping: PyYAML keeps the last one
    silently, so a second ``interval:`` would quietly override the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *defaults" then overriding a key is allowed
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it itself
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {key!r} (first given on line {first.line + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path, env: typing.Mapping[str, str] | None = None) -> Any:
    """Read a YAML file and substitute ``${ENV}`` in its string values."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read file: {exc.strerror}")]) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(source, [(where, str(problem))]) from None
    errors: list[tuple[str, str]] = []
    data = _expand_env(data, "", errors, os.environ if env is None else env)
    if errors:
        raise ConfigError(source, errors)
    return data


def load(cls: type[T], path: str | Path, env: typing.Mapping[str, str] | None = None, *,
         units_required: bool = False) -> T:
    """``load_yaml`` then ``build``: the whole shape check for one file."""
    return build(cls, load_yaml(path, env), str(path), units_required=units_required)

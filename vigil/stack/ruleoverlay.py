"""The rule overlay: the real rule files with compressed timings, for the stack and tests.

``compressed_rules(src, dst, for_="5s", window="30s")`` rewrites the real rule files so
``for:`` durations, range windows and offsets are capped, and policy recording rules can be
overridden. The overlay is generated from ``prometheus/rules`` every time, so it cannot drift
from the rules it compresses. ``vigil up --fast`` and the live test stacks run it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from vigil.core import durations
from vigil.core.errors import VigilError
from vigil.stack import rulefloor

REPO_ROOT = Path(__file__).resolve().parents[2]   # vigil/stack/ruleoverlay.py -> the checkout
PROMETHEUS_DIR = REPO_ROOT / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
_DURATION = durations.PROMETHEUS_DURATION


class OverlayError(VigilError):
    """The rule files cannot be overlaid; the message says which file or name and why."""


# String literals are copied untouched so a regex matcher like "[0-9]5m" is never rewritten.
_PROMQL_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_RANGE = re.compile(rf"\[(\s*)({_DURATION})(\s*)(?::(\s*)({_DURATION})?(\s*))?\]")
_OFFSET = re.compile(rf"(\boffset\s+)(-?)({_DURATION})")


def compress_expr(expr: str, window: str) -> str:
    """Cap every range window, subquery range and offset in a PromQL expression at ``window``.

    Windows already shorter are kept, so relative order survives where it matters
    (a 1m rate stays shorter than a 1h baseline only if both are under the cap).
    """
    cap = durations.parse_prometheus(window)

    def capped(text: str) -> str:
        return durations.format(min(durations.parse_prometheus(text), cap))

    def range_sub(m: re.Match[str]) -> str:
        rng = capped(m.group(2))
        if m.group(4) is None:  # a plain range selector
            return f"[{rng}]"
        res = m.group(5)
        if res is None:
            return f"[{rng}:]"
        res_s = min(durations.parse_prometheus(res), durations.parse_prometheus(rng) / 5)
        return f"[{rng}:{durations.format(max(res_s, 0.001))}]"

    def offset_sub(m: re.Match[str]) -> str:
        return f"{m.group(1)}{m.group(2)}{capped(m.group(3))}"

    out: list[str] = []
    pos = 0
    for lit in _PROMQL_STRING.finditer(expr):
        code = expr[pos:lit.start()]
        out.append(_OFFSET.sub(offset_sub, _RANGE.sub(range_sub, code)))
        out.append(lit.group(0))
        pos = lit.end()
    out.append(_OFFSET.sub(offset_sub, _RANGE.sub(range_sub, expr[pos:])))
    return "".join(out)


def check_sources(files: Iterable[Path]) -> None:
    """``promtool check rules`` on the *source* files, so a typo is reported against the file
    and line the user edits (``prometheus/rules/performance.yml: 24:15``), not against the
    generated copy Prometheus would load. Without promtool on PATH this is skipped: Prometheus
    still refuses a bad rule at start, against the copy."""
    promtool = shutil.which("promtool")
    paths = [str(f) for f in files]
    if promtool is None or not paths:
        return
    proc = subprocess.run([promtool, "check", "rules", *paths],  # noqa: S603 (fixed argv)
                          capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        # promtool prints "FAILED:" then one "FILE: LINE:COL: group ..., rule N: why" a line.
        problems = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines()
                    if ln.strip() and not ln.startswith("Checking ")
                    and "SUCCESS" not in ln and ln.strip() != "FAILED:"]
        raise OverlayError("the rule files do not pass promtool check rules:\n  "
                           + "\n  ".join(problems))


def load_rule_files(src_dir: Path | str = RULES_DIR) -> dict[Path, dict[str, Any]]:
    """Every ``*.yml``/``*.yaml`` rule file in ``src_dir``, parsed, sorted by name."""
    src = Path(src_dir)
    files = sorted([*src.glob("*.yml"), *src.glob("*.yaml")])
    if not files:
        raise OverlayError(f"no rule files (*.yml) in {src}")
    out: dict[Path, dict[str, Any]] = {}
    for path in files:
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
            raise OverlayError(f"{path}: a rule file needs a top-level 'groups' list")
        out[path] = doc
    return out


def iter_rules(src_dir: Path | str = RULES_DIR) -> Iterable[tuple[Path, str, dict[str, Any]]]:
    """(file, group name, rule) for every rule in ``src_dir``."""
    for path, doc in load_rule_files(src_dir).items():
        for group in doc["groups"]:
            for rule in group.get("rules") or []:
                yield path, str(group.get("name")), rule


def compressed_rules(src_dir: Path | str, dst_dir: Path | str, *, for_: str = "5s",
                     window: str = "30s",
                     policy: Mapping[str, float] | None = None,
                     collector_intervals: Mapping[str, float] | None = None,
                     keep_firing_for: str | None = None) -> list[Path]:
    """Write a compressed-timing copy of the rule files in ``src_dir`` into ``dst_dir``.

    - every ``for:`` longer than ``for_`` becomes ``for_``;
    - every range window, subquery range and ``offset`` longer than ``window`` becomes
      ``window`` (``rate(x[5m])`` -> ``rate(x[30s])``);
    - ``policy`` maps a recording rule name (e.g. ``vigil:policy:encryption_key_max_age_seconds``)
      to a constant that replaces its expression.

    A window is never capped below ``rulefloor.FACTOR`` x the longest interval of the
    exporter collectors the rule reads (``collector_intervals`` by collector name, default
    the built-in defaults), so a rate over a slow collector doesn't flap (vigil/stack/rulefloor.py).

    ``keep_firing_for`` (``vigil up --fast``) sets each alert's ``keep_firing_for:``, so a
    value that dips for an evaluation or two in a short window doesn't resolve and re-page.

    Recorded series keep their names (``..._rate5m`` still says 5m); only timing changes.
    Returns the written paths, in the same order as the sources.
    """
    cap_for = durations.parse_prometheus(for_)
    cap = durations.parse_prometheus(window)  # fail early on a typo
    remaining = dict(policy or {})
    dst = Path(dst_dir)
    dst.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    docs = load_rule_files(src_dir)
    check_sources(docs)  # a typo is reported against the source's line, not the copy's
    every = [r for doc in docs.values() for g in doc["groups"] for r in g.get("rules") or []]
    floor = rulefloor.floors(every, rulefloor.metric_intervals(collector_intervals))
    for path, doc in docs.items():
        for group in doc["groups"]:
            for rule in group.get("rules") or []:
                if "for" in rule:
                    for_s = durations.parse_prometheus(rule["for"])
                    rule["for"] = durations.format(min(for_s, cap_for))
                if keep_firing_for is not None and "alert" in rule:
                    rule["keep_firing_for"] = keep_firing_for
                name = rule.get("record")
                if name in remaining:
                    rule["expr"] = f"vector({float(remaining.pop(name))!r})"
                else:
                    at_least = durations.format(max(cap, floor[id(rule)]))
                    rule["expr"] = compress_expr(str(rule["expr"]), at_least)
        out = dst / path.name
        out.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
        written.append(out)
    if remaining:
        raise OverlayError(f"policy names no recording rule in {src_dir}: {sorted(remaining)}")
    return written

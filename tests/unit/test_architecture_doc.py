"""docs/architecture.md can't rot: every path it names exists, every `vigil ...` command in
its runbook table parses with the real CLI, and its data path crosses each module once."""

from __future__ import annotations

import argparse
import re

import pytest

from vigil.cli import build_parser

from .conftest import REPO

DOC = REPO / "docs" / "architecture.md"
_CODE = re.compile(r"`([^`\n]+)`")
_PATH = re.compile(r"^[\w.-]+(?:/[\w.-]+)*/?$")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_STEP = re.compile(r"^\d+\. ", re.MULTILINE)


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def repo_paths(text: str) -> list[str]:
    """Code spans that are repository paths: a slash, no blanks, not a URL path."""
    return [span for span in _CODE.findall(text) if "/" in span and _PATH.match(span)]


def section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def test_the_doc_names_real_paths() -> None:
    paths = repo_paths(doc_text())
    assert len(paths) > 40                      # the map is there at all
    missing = sorted({p for p in paths if not (REPO / p).exists()})
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_docs_links_resolve() -> None:
    links = [t for t in _LINK.findall(doc_text()) if "://" not in t]
    missing = [t for t in links if not (DOC.parent / t).exists()]
    assert links and missing == []


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_vigil_command_in_the_runbook_table_exists() -> None:
    table = section(doc_text(), "Where each runbook command lives")
    commands = [c for c in _CODE.findall(table) if c.startswith("vigil ")]
    assert len(commands) >= 15
    root = build_parser()
    for command in commands:
        parser = root
        for word in command.split()[1:]:
            choices = _subcommands(parser)
            assert word in choices, f"`{command}`: no subcommand {word!r}"
            parser = choices[word]


def test_the_data_path_crosses_each_module_once() -> None:
    steps = _STEP.split(section(doc_text(), "The data path"))[1:]
    assert len(steps) >= 10
    seen: dict[str, int] = {}
    for number, step in enumerate(steps, 1):
        for path in set(repo_paths(step)):
            if path.endswith(".py"):
                assert path not in seen, f"{path} in steps {seen[path]} and {number}"
                seen[path] = number
    assert {p.split("/")[0] for p in seen} >= {"exporter", "router", "vigil"}


def test_the_readme_links_the_map() -> None:
    assert "(docs/architecture.md)" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("span", "is_path"), [
    ("router/matrix.py", True), ("vigil/schema/sql/", True), ("/api/v1/alertmanager", False),
    ("vigil alert ack", False), ("vigil_monitor.audit_buffer", False), ("NNN_name.sql", False),
])
def test_what_counts_as_a_path(span: str, is_path: bool) -> None:
    assert (repo_paths(f"`{span}`") == [span]) is is_path

"""Read the commands and URLs a document shows, in order (the walkthrough test's input).

Commands come from fenced code blocks only (what a reader copies): a line is a command when,
after an optional ``$ `` prompt and ``.venv/bin/`` prefix, it starts with ``vigil ``;
backslash continuations are joined and shell comments dropped. URLs come from the whole
text. Nothing here runs anything.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

_FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
_PROMPT = re.compile(r"^\s*(?:\$\s+)?(?:\./)?(?:\.venv/bin/)?")
_URL = re.compile(r"https?://[^\s`'\"<>)\]|]+")


@dataclasses.dataclass(frozen=True)
class Command:
    source: str       # "README.md:57", where a reader finds it
    text: str         # as shown, comment removed
    argv: list[str]   # shlex-split, placeholders not yet substituted


def commands(path: Path, root: Path) -> list[Command]:
    text = path.read_text()
    out: list[Command] = []
    for block in _FENCE.finditer(text):
        start_line = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).split("\n")
        i = 0
        while i < len(lines):
            first = i
            line = lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            stripped = _PROMPT.sub("", line, count=1)
            if not stripped.startswith("vigil "):
                continue
            for argv in alternatives(shlex.split(stripped, comments=True)):
                out.append(Command(f"{path.relative_to(root)}:{start_line + first}",
                                   shlex.join(argv), argv))
    return out


def alternatives(argv: list[str]) -> list[list[str]]:
    """A synopsis ``cmd ID [--role R | --actor A]`` is one command per alternative."""
    if "|" not in argv:
        return [argv]
    start = next((i for i, a in enumerate(argv) if a.startswith("[")), None)
    end = next((i for i, a in enumerate(argv) if start is not None and i >= start
                and a.endswith("]")), None)
    if start is None or end is None:
        return [argv]
    group = [a.removeprefix("[") if i == 0 else a for i, a in enumerate(argv[start:end + 1])]
    group[-1] = group[-1].removesuffix("]")
    alts: list[list[str]] = [[]]
    for token in group:
        if token == "|":
            alts.append([])
        elif token:
            alts[-1].append(token)
    return [argv[:start] + alt + argv[end + 1:] for alt in alts if alt]


def urls(path: Path) -> list[str]:
    """Every http(s) URL in the text, trailing punctuation removed, in order, once each."""
    seen: dict[str, None] = {}
    for m in _URL.finditer(path.read_text()):
        seen.setdefault(m.group(0).rstrip(".,;:"), None)
    return list(seen)

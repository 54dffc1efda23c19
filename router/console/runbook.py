"""docs/runbook.md as a page, so the overview's and the alerts' runbook links work where the
router runs: headings get GitHub's anchors (``### Audit Performance`` -> ``#audit-performance``),
the rest is shown as written (escaped, preformatted), no Markdown engine needed."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from aiohttp import web

from router.console.render import h, page
from router.console.session import csrf_for, require
from router.keys import CLOCK

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def slug(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


@functools.cache
def render(path: Path = RUNBOOK) -> str | None:
    try:
        text = path.read_text("utf-8")
    except OSError:
        return None
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if any(line.strip() for line in block):
            out.append("<pre>" + h("\n".join(block).strip("\n")) + "</pre>")
        block.clear()

    fenced = False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        m = None if fenced else _HEADING.match(line)
        if m:
            flush()
            level = min(len(m.group(1)) + 1, 6)
            out.append(f'<h{level} id="{h(slug(m.group(2)))}">{h(m.group(2))}</h{level}>')
        else:
            block.append(line)
    flush()
    return "".join(out)


async def runbook(request: web.Request) -> web.Response:
    v = await require(request)
    body = render()
    if body is None:
        body, status = "<p>docs/runbook.md is not installed next to this router.</p>", 404
    else:
        status = 200
    return page("Runbook", f'<div class="runbook">{body}</div>', session=v.session,
                csrf=csrf_for(request, v), now=request.app[CLOCK].now(), status=status)


def setup_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/runbook", runbook)

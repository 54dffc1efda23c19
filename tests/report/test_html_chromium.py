"""report.html in a real headless Chromium: it renders, fetches nothing, plots thresholds."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from vigil.report import build
from vigil.report.html import CSP
from vigil.report.store import ReportStore

from .chromium import CHROMIUM, RecordingProxy, png_pixels, screenshot

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed "
                                 "(scripts/bootstrap.sh installs it)")]


@pytest.fixture
def report_html(known_prometheus: str, known_db: str, known_date: dt.date,
                tmp_path: Path) -> Path:
    _, folder = build.daily(build.Sources(known_prometheus, known_db), known_date,
                            ReportStore(tmp_path / "reports"), now=dt.datetime.now(dt.UTC))
    return folder / "report.html"


@pytest.fixture
def proxy() -> RecordingProxy:
    p = RecordingProxy()
    yield p  # type: ignore[misc]
    p.close()


def _ink(png: Path) -> float:
    """Share of pixels that are not the background colour."""
    _, _, rows = png_pixels(png)
    bpp = len(rows[0]) // (len(rows[0]) // 3 if len(rows[0]) % 4 else len(rows[0]) // 4)
    background = rows[0][:3]
    total = ink = 0
    for row in rows:
        for i in range(0, len(row), bpp):
            total += 1
            ink += row[i:i + 3] != background
    return ink / total


def test_report_renders_non_blank_and_fetches_nothing(report_html: Path, proxy: RecordingProxy,
                                                     tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    screenshot(report_html, png, proxy.port, tmp_path / "profile")
    width, height, _ = png_pixels(png)
    assert (width, height) == (1200, 1600)
    assert _ink(png) > 0.02, "the screenshot is (nearly) blank"
    assert proxy.page_requests() == [], f"the page made network requests: {proxy.seen}"


def test_the_proxy_does_see_a_page_that_fetches(proxy: RecordingProxy, tmp_path: Path) -> None:
    """Control: without this, an empty proxy record could mean a proxy nobody used."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://127.0.0.1:18999/pixel.png"><img src="http://report-leak.invalid/beacon.png">leak</body></html>')
    screenshot(page, tmp_path / "leaky.png", proxy.port, tmp_path / "profile")
    seen = " ".join(proxy.page_requests())
    assert "pixel.png" in seen and "beacon.png" in seen, proxy.seen


def test_html_forbids_fetches_and_plots_each_threshold(report_html: Path) -> None:
    text = report_html.read_text()
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert CSP == "default-src 'none'; style-src 'unsafe-inline'"
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", text)
    svgs = re.findall(r"<svg.*?</svg>", text, re.S)
    assert len(svgs) == 4  # rls, phi, audit write, encryption
    for svg, label in zip(svgs, ("50 ms", "100 ms", "10 ms", "100 ms"), strict=True):
        assert 'class="threshold"' in svg and f"threshold {label}" in svg
    # the RLS plot has data and a line over the threshold; absent data says so on the plot
    assert "<polyline" in svgs[0] and "NO DATA" not in svgs[0]
    assert "NO DATA" in svgs[2] and "NO DATA" in svgs[3]

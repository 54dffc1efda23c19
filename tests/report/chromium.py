"""Headless Chromium for the report tests: a screenshot, a recording proxy, a PNG check."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import struct
import subprocess
import threading
import zlib
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_BROWSER_SERVICE = re.compile(
    r"^[A-Z]+ (https?://)?[a-z0-9.-]+\.(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)"
    r"(:443)?[/ ]")


class RecordingProxy:
    """Accepts every connection Chromium sends through it, records the first line, answers 502.

    With ``--proxy-bypass-list=<-loopback>`` even loopback requests go through it, so an empty
    record means the page fetched nothing at all.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
                except OSError:
                    first = "<no request line>"
                self.seen.append(first)
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    def page_requests(self) -> list[str]:
        """What the proxy saw, less the browser's own service calls (time, updates, sign-in),
        which Chromium makes whatever the page is and which no flag fully turns off."""
        return [line for line in self.seen if not _BROWSER_SERVICE.search(line)]

    def close(self) -> None:
        self.sock.close()


def screenshot(page: Path, png: Path, proxy_port: int, profile: Path) -> None:
    assert CHROMIUM, "chromium is not installed (scripts/bootstrap.sh installs it)"
    subprocess.run([
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
        "--metrics-recording-only", "--no-pings", f"--user-data-dir={profile}",
        "--disable-client-side-phishing-detection", "--disable-field-trial-config",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,"
        "MediaRouter,AutofillServerCommunication",
        f"--proxy-server=http://127.0.0.1:{proxy_port}", "--proxy-bypass-list=<-loopback>",
        "--window-size=1200,1600", "--virtual-time-budget=3000", f"--screenshot={png}",
        page.as_uri()], check=True, capture_output=True, timeout=120)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered RGB(A) rows of an 8-bit PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows

"""The manifest of an evidence bundle: the SHA-256 of every file, and its own hash.

``manifest.json`` lists every file of the bundle (relative path -> SHA-256, size). Its own
SHA-256 is written next to it (``manifest.sha256``) and, more importantly, recorded in the
router with the incident (``POST /api/v1/incidents/{id}/evidence``). A plain hash, not an
HMAC: there is no key a responder's laptop could keep that an attacker with the same laptop
would not also have, while the router's copy of the hash sits on another host under another
account. So ``verify`` catches a changed, removed or added file from the manifest alone, a
rewritten manifest from manifest.sha256, and a rewrite of both from the router's record
(``--manifest-hash`` or ``vigil incident evidence verify --incident``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.sha256"
_OWN = {MANIFEST, MANIFEST_HASH}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and str(p.relative_to(root)) not in _OWN)


def write(root: Path, meta: dict[str, Any]) -> str:
    """Hash every file under ``root`` into manifest.json; returns the manifest's SHA-256."""
    files = {name: {"sha256": sha256_file(root / name), "bytes": (root / name).stat().st_size}
             for name in _files(root)}
    doc = {**meta, "algorithm": "sha256", "files": files}
    _private(root / MANIFEST, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    digest = sha256_file(root / MANIFEST)
    _private(root / MANIFEST_HASH, f"{digest}  {MANIFEST}\n")
    return digest


def _private(path: Path, text: str) -> None:
    """Write ``text`` readable by the collector only (0600), as the bundle's other files."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@dataclass
class Verdict:
    manifest_hash: str = ""
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # about the manifest itself
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.changed or self.removed or self.added or self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "manifest_hash": self.manifest_hash, "checked": self.checked,
                "changed": self.changed, "removed": self.removed, "added": self.added,
                "problems": self.problems}


def verify(root: Path, expected_hash: str | None = None) -> Verdict:
    """Compare the bundle with its manifest (and the manifest with ``expected_hash``)."""
    out = Verdict()
    path = root / MANIFEST
    if not path.is_file():
        out.problems.append(f"{MANIFEST} is missing: not a bundle, or it was removed")
        return out
    out.manifest_hash = sha256_file(path)
    recorded = (root / MANIFEST_HASH).read_text().split()[0] \
        if (root / MANIFEST_HASH).is_file() else ""
    if recorded != out.manifest_hash:
        out.problems.append(f"{MANIFEST} changed: its SHA-256 is not the one in {MANIFEST_HASH}")
    if expected_hash is not None and expected_hash != out.manifest_hash:
        out.problems.append(f"{MANIFEST} is not the one recorded for the incident "
                            "(the router's manifest hash differs)")
    try:
        listed: dict[str, Any] = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        out.problems.append(f"{MANIFEST} is not a manifest (unreadable JSON)")
        return out
    present = set(_files(root))
    for name in sorted(listed):
        if name not in present:
            out.removed.append(name)
        elif sha256_file(root / name) != listed[name].get("sha256"):
            out.changed.append(name)
        out.checked += 1
    out.added = sorted(present - set(listed))
    return out

"""Where the HMAC key comes from: --key-file, $VIGIL_AUDIT_KEY_FILE, $VIGIL_AUDIT_KEY.

The database never holds the key. The demo keeps one in the state folder
(``$VIGIL_STATE_DIR`` or ``.vigil/``), created on first use with mode 0600.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from vigil.audit.errors import KeyMissing

MIN_KEY_BYTES = 16


def load(key_file: str | Path | None = None) -> bytes:
    path = key_file or os.environ.get("VIGIL_AUDIT_KEY_FILE")
    if path:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as exc:
            raise KeyMissing(f"cannot read the audit key file {path}: {exc.strerror}") from None
    else:
        key = os.environ.get("VIGIL_AUDIT_KEY", "").encode()
    if not key:
        raise KeyMissing("no audit key: pass --key-file, or set VIGIL_AUDIT_KEY_FILE or "
                         "VIGIL_AUDIT_KEY (the database never holds it)")
    if len(key) < MIN_KEY_BYTES:
        raise KeyMissing(f"the audit key is shorter than {MIN_KEY_BYTES} bytes; "
                         "use e.g. `openssl rand -hex 32`")
    return key


def ensure_key_file(path: Path) -> bool:
    """Create a random 256-bit key (hex) at ``path`` with mode 0600 unless it exists.
    Returns True when it was created. The key is never printed."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False  # created concurrently
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return True


def demo_key_file() -> Path:
    """The demo's key file, created if missing (never used unless no key is configured)."""
    path = Path(os.environ.get("VIGIL_STATE_DIR") or ".vigil") / "audit.key"
    ensure_key_file(path)
    return path


def load_or_demo(key_file: str | Path | None = None) -> bytes:
    if key_file or os.environ.get("VIGIL_AUDIT_KEY_FILE") or os.environ.get("VIGIL_AUDIT_KEY"):
        return load(key_file)
    return load(demo_key_file())

"""The router's statements, one ``.sql`` file each, shipped as package data.

Statements take every value as a parameter (``%(name)s``), the escalation plans included: no
SQL text is built from values in Python. A literal ``%`` in a file is written ``%%``.
"""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def load(name: str) -> str:
    """The text of ``router/sql/<name>.sql``."""
    return resources.files(__name__).joinpath(f"{name}.sql").read_text("utf-8")

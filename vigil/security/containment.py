"""Containment blocks what it claims: tried with vigil's containment (``vigil/contain/``)
against a throwaway role and tenant, created and removed here. Until that package is
installed the test says so: it is never reported as passed without being tried."""

from __future__ import annotations

import importlib.util

from vigil.security.result import SecurityTest, unexamined
from vigil.security.scope import Conn

CONTAINMENT = "Containment blocks what it claims"


def containment(conn: Conn) -> list[SecurityTest]:
    del conn  # used once the containment package exists
    if importlib.util.find_spec("vigil.contain") is None:
        return [unexamined(CONTAINMENT, "throwaway role and tenant",
                           "to contain and release a throwaway role and tenant",
                           "containment not installed (vigil/contain/)")]
    return [unexamined(CONTAINMENT, "throwaway role and tenant",
                       "to contain and release a throwaway role and tenant",
                       "this vigil's security test does not drive containment yet")]

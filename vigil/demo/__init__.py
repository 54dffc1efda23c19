"""The demo tenant application that exercises every vigil_monitor object.

Python API (used by tests and the stack)::

    from vigil import demo
    info = demo.setup(admin_dsn, "vigil_demo")   # -> DemoInfo(admin_dsn, app_dsn, exporter_dsn,
                                                 #             dbname)
    demo.info(admin_dsn, "vigil_demo")           # the same DemoInfo without touching the DB
    stats = demo.run_load(info, duration=5, rate=20, tenants=3)   # bounded, returns LoadStats
    t = demo.LoadThread(info, rate=20); t.start(); ...; stats = t.stop()   # background
    demo.inject(info.admin_dsn, "slow-rls")       # -> dict of what was done
    demo.heal(info.admin_dsn)                     # every fault, or heal(dsn, "slow-rls")
    demo.FAULTS                                   # the fault names of docs/CONTRACTS.md

``admin_dsn`` is a superuser DSN (any database); ``info.admin_dsn`` points at the demo
database. ``app_dsn`` logs in as ``vigil_demo_app`` (RLS-subject) and ``exporter_dsn`` as
``vigil_exporter`` (pg_monitor + the shipped grants); both rely on trust auth (no password).
"""

from vigil.demo.app import APP_ROLE, DemoInfo, info, setup
from vigil.demo.faults import FAULTS, active_faults, heal, inject
from vigil.demo.load import LoadStats, LoadThread, run_load

__all__ = ["APP_ROLE", "FAULTS", "DemoInfo", "LoadStats", "LoadThread", "active_faults", "heal",
           "info", "inject", "run_load", "setup"]

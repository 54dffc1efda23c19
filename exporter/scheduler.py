"""apscheduler runs every collector on every target on its own interval, off the scrape path.

Each job awaits its work (``max_instances=1``), so a slow database can never pile up runs,
and a client-side guard records a hung target as failed without waiting for the cancel.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from psycopg_pool import PoolTimeout, TooManyRequests

from exporter.collectors.builtin import builtin_specs
from exporter.collectors.run import collect, horizon, start_mark
from exporter.collectors.spec import CollectorSpec, QuerySpec, custom_spec
from exporter.config import ExporterConfig, Target
from exporter.db import ProbeFailed, TargetDB, classify, quiet_pool_logs
from exporter.exposition import Renderer
from exporter.snapshot import HistSeries, Labels, Mark, RunResult, Store, TargetStore
from exporter.state import StateFile
from vigil.core.logs import StateLog, fields

log = logging.getLogger("exporter")
PING_TIMEOUT = 2.0
DOWN_MESSAGES = {
    "auth": "target rejected the exporter's credentials; vigil_up is 0 (check the DSN's user "
            "and password, and pg_hba.conf)",
    "dsn": "target DSN is malformed; vigil_up is 0 (fix targets[].dsn)",
    "rejected": "target refused the connection; vigil_up is 0 (database missing or too many "
                "connections?)",
    "timeout": "target unreachable (no answer before the timeout); vigil_up is 0",
    "unreachable": "target unreachable (connection refused or reset); vigil_up is 0",
    "other": "target unreachable; vigil_up is 0",
}


class HungTarget(TimeoutError):
    """The target gave no answer before the client-side guard fired."""


@dataclass
class TargetRuntime:
    target: Target
    db: TargetDB
    specs: list[CollectorSpec]
    state: StateFile
    checked_marks: set[str] = field(default_factory=set)
    ok_started: float = float("-inf")  # monotonic start of the latest successful run


def specs_for(cfg: ExporterConfig, target: Target) -> list[CollectorSpec]:
    specs = builtin_specs(cfg) + [custom_spec(c, cfg) for c in cfg.custom_collectors]
    if target.collectors is not None:
        specs = [s for s in specs if s.name in target.collectors]
    interval = min([15.0, *(s.interval for s in specs)])
    ping = CollectorSpec("ping", interval, PING_TIMEOUT, 1.0, (QuerySpec("SELECT 1", ()),))
    return [ping, *specs]


class Exporter:
    """Owns the pools, the scheduler and the snapshot; ``create_app`` starts and stops it."""

    def __init__(self, cfg: ExporterConfig) -> None:
        quiet_pool_logs()
        self.cfg = cfg
        self.targets = {t.name: TargetRuntime(t, TargetDB(t), specs_for(cfg, t),
                                              StateFile(cfg.state_dir, t.name))
                        for t in cfg.targets}
        all_specs = [s for rt in self.targets.values() for s in rt.specs]
        self.store = Store(all_specs, self.targets)
        self.renderer = Renderer(self.store)
        self.states = StateLog(log)
        self.scheduler: AsyncIOScheduler | None = None
        self.tasks: set[asyncio.Task[RunResult]] = set()
        self.started = False

    # -- lifecycle ----------------------------------------------------------------------
    def load_state(self) -> None:
        for name, rt in self.targets.items():
            shapes = {m.name: (len(m.buckets), len(m.labels)) for s in rt.specs
                      for m in s.metrics
                       if m.type == "histogram"}
            saved = rt.state.load(shapes)
            if saved is not None:
                t = self.store.targets[name]
                t.hist, t.watermarks = saved
            for spec in rt.specs:
                self.store.register_collector(name, spec.name)
        self.renderer.refresh()

    async def start(self, schedule: bool = True) -> None:
        self.load_state()
        for rt in self.targets.values():
            await rt.db.open()
        if schedule:
            self.scheduler = AsyncIOScheduler(timezone=UTC)
            now = datetime.now(UTC)
            for name, rt in self.targets.items():
                for spec in rt.specs:
                    jitter = random.uniform(0, min(self.cfg.scheduler.start_jitter,
                                                   spec.interval))
                    self.scheduler.add_job(
                        self.run, "interval", seconds=spec.interval, args=[name, spec],
                        id=f"{name}/{spec.name}", max_instances=1, coalesce=True,
                        # apscheduler's default (1 s) silently skips a late run.
                        misfire_grace_time=max(1, int(spec.interval)),
                        next_run_time=now + timedelta(seconds=jitter))
            self.scheduler.start()
        self.started = True

    def not_ready(self, now: float | None = None) -> list[str]:
        """Targets whose collections are not succeeding: down, or (scheduled) whose ping has
        not succeeded within its interval plus its timeout, which a hung database shows
        before the run's guard fires."""
        if not self.started:
            return ["starting"]
        now = time.time() if now is None else now
        out = []
        for name, rt in self.targets.items():
            t = self.store.targets[name]
            ping = t.status.get("ping")
            last = ping.last_success if ping else None
            stale = self.scheduler is not None and (
                last is None or now - last > rt.specs[0].interval + PING_TIMEOUT)
            if t.up != 1.0 or stale:
                out.append(name)
        return out

    async def stop(self) -> None:
        self.started = False
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=2.0)
        for rt in self.targets.values():
            await rt.db.close()

    # -- one run ------------------------------------------------------------------------
    async def run(self, target: str, spec: CollectorSpec) -> bool:
        """Run ``spec`` once on ``target``, record the outcome; True on success."""
        rt = self.targets[target]
        t0 = time.monotonic()
        task = asyncio.create_task(self._collect(rt, spec))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        guard = spec.timeout + rt.target.pool.timeout + 1.0
        exc: BaseException | None
        try:
            done, _ = await asyncio.wait({task}, timeout=guard)
        except asyncio.CancelledError:
            task.cancel()
            raise
        exc = task.exception() if task in done else HungTarget()
        duration = time.monotonic() - t0
        if exc is None:
            rt.ok_started = max(rt.ok_started, t0)
            self._success(rt, spec, task.result(), duration)
        else:
            self._failure(rt, spec, exc, duration, stale=t0 < rt.ok_started)
        self.store.set_pool(target, rt.db.stats())
        self.renderer.refresh()
        if task not in done:  # wait for the cancel here, so runs still never overlap
            task.cancel()
            _, pending = await asyncio.wait({task}, timeout=0.5)
            if pending:
                # psycopg answers a cancel by asking the server to cancel too, and waits up
                # to 10 s for that through the dead network; a second cancel makes it drop
                # the connection instead. The next run uses a fresh pool regardless.
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            if task.done():
                with suppress(BaseException):
                    task.result()
        return exc is None

    async def _collect(self, rt: TargetRuntime, spec: CollectorSpec) -> RunResult:
        async with rt.db.transaction(spec.timeout, spec.lock_timeout) as conn:
            marks = dict(self.store.targets[rt.target.name].watermarks)
            for q in spec.queries:
                if q.watermark and q.watermark_key not in rt.checked_marks:
                    marks[q.watermark_key] = await self._initial_mark(rt, q, marks, conn)
            result = await collect(conn, spec, marks, self.cfg.limits.watermark_batch)
        rt.checked_marks.update(result.watermarks)
        return result

    async def _initial_mark(self, rt: TargetRuntime, q: QuerySpec, marks: dict[str, Mark],
                            conn: psycopg.AsyncConnection[tuple[object, ...]]) -> Mark:
        """The mark a query resumes from on its first run in this process."""
        saved = marks.get(q.watermark_key)
        if q.settled:
            return await self._initial_settled(rt, q, saved, conn)
        current = await start_mark(conn, q)
        if saved is None:
            return Mark(id=current) if self.cfg.watermark_start == "now" else Mark()
        if current < saved.id:  # the table was recreated: its ids start again
            self._ahead(rt, q, "watermark ahead of the table; observing its rows from id 0")
            return Mark()
        return Mark(id=saved.id)

    async def _initial_settled(self, rt: TargetRuntime, q: QuerySpec, saved: Mark | None,
                               conn: psycopg.AsyncConnection[tuple[object, ...]]) -> Mark:
        h = await horizon(conn)
        if saved is not None and saved.txid > h:
            # Transaction ids never go back in one cluster: this is another cluster (a restore).
            self._ahead(rt, q, "watermark ahead of the database's transaction ids; "
                               "starting as on a first start")
            saved = None
        if saved is None:
            if self.cfg.watermark_start == "zero":
                return Mark()
            # "now": rows of transactions that may still commit have txid >= h; of those, the
            # ones already visible (id <= max id, read after h) are history too.
            return Mark(h, 0, await start_mark(conn, q))
        if saved.floor and await start_mark(conn, q) < saved.floor:
            self._ahead(rt, q, "watermark ahead of the table; observing its rows from id 0")
            return Mark(saved.txid, saved.id)
        return saved

    def _ahead(self, rt: TargetRuntime, q: QuerySpec, message: str) -> None:
        log.warning(message, extra=fields(target=rt.target.name, metric=q.watermark_key))

    def _success(self, rt: TargetRuntime, spec: CollectorSpec, result: RunResult,
                 duration: float) -> None:
        name = rt.target.name

        def persist(t: TargetStore, hist: dict[str, dict[Labels, HistSeries]],
                    marks: dict[str, Mark]) -> None:
            try:
                rt.state.save(t, hist, marks)
            except OSError as exc:
                self.states.update(f"{name}/state", "error", "cannot write exporter state; "
                                   "watermarks will not survive a restart",
                                   target=name, path=str(rt.state.path), error=exc.strerror)
            else:
                self.states.update(f"{name}/state", "ok", "exporter state writable again",
                                   logging.INFO, target=name)

        self.store.apply_success(name, spec.name, result, duration, persist)
        self.store.set_up(name, True)
        self._state(name, "up", "up", "target reachable again", logging.INFO)
        self.states.update(f"{name}/{spec.name}", "ok", "collector recovered", logging.INFO,
                           target=name, collector=spec.name)

    def _failure(self, rt: TargetRuntime, spec: CollectorSpec, exc: BaseException,
                 duration: float, stale: bool = False) -> None:
        """``stale``: a run that started later already succeeded, so this failure says
        nothing about the target now (a run hung since before the database came back)."""
        name = rt.target.name
        reason = classify(exc)
        self.store.apply_failure(name, spec.name, reason, duration)
        sqlstate = (exc.sqlstate or "") if isinstance(exc, psycopg.Error) else ""
        key = f"{name}/{spec.name}"
        if reason == "missing_object":
            # The primary message names the missing object; it holds no row values.
            diag = exc.diag.message_primary if isinstance(exc, psycopg.Error) else None
            self.states.update(key, reason,
                               "monitoring schema object missing or outdated; fix: run "
                               "`vigil db install --dsn ADMIN_DSN` on this database",
                               target=name, collector=spec.name, sqlstate=sqlstate,
                               error=diag or "")
        elif isinstance(exc, TooManyRequests) or (isinstance(exc, PoolTimeout)
                                                  and rt.db.exhausted()):
            # TooManyRequests is our own queue limit (pool.max_waiting), never the database's
            # answer: even while the pool is still opening connections it says nothing about
            # the target. Read as "unreachable", it replaced the pool, which started small
            # again, and the next burst did the same: vigil_up flapped while runs overlapped.
            self.states.update(key, "pool_exhausted",
                               "connection pool exhausted; raise pool.max_size or intervals",
                               target=name, collector=spec.name)
            return
        else:
            self.states.update(key, reason, "collector failed", target=name,
                               collector=spec.name, sqlstate=sqlstate,
                               error=exc.reason if isinstance(exc, ProbeFailed)
                               else type(exc).__name__)
        reached = reason in ("missing_object", "query", "row_limit", "probe") or (
            reason == "timeout" and not isinstance(exc, HungTarget))
        if isinstance(exc, psycopg.OperationalError) and not reached:
            reached = exc.sqlstate is not None  # the server answered with an error
        if reached:
            self.store.set_up(name, True)
            self._state(name, "up", "up", "target reachable again", logging.INFO)
            return
        if stale:
            return
        # Its connections may be black holes and its queue may hold abandoned waiters:
        # the next run starts on a fresh pool (exporter/db.py).
        rt.db.mark_stale()
        down = rt.db.connect_error or (
            "timeout" if isinstance(exc, HungTarget | PoolTimeout | TimeoutError)
            else "unreachable" if isinstance(exc, psycopg.OperationalError) else "other")
        self.store.set_up(name, False, down)
        self._state(name, "up", f"down:{down}", DOWN_MESSAGES.get(down, DOWN_MESSAGES["other"]),
                    logging.WARNING, reason=down)

    def _state(self, target: str, key: str, state: str, message: str, level: int,
               **extra: str) -> None:
        self.states.update(f"{target}/{key}", state, message, level, target=target, **extra)

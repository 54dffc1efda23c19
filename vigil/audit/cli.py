"""``vigil audit seal|verify|export|buffer-status|async-health``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.audit import checkpoints, export, keys, verify
from vigil.audit.service import Sealer, SealerConfig
from vigil.core import pg


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="the audit chain: seal, verify, buffer health")
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    p = sub.add_parser("seal", help="move buffered audit rows into the keyed chain (long-lived)",
                       description="Runs until SIGTERM. One active sealer per database; a "
                                   "second one waits as standby.")
    _common(p)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    p.add_argument("--batch", type=int, default=1000, help="rows per sealed batch")
    p.add_argument("--verify-every", type=float, default=30.0,
                   help="seconds between incremental keyed verifications")
    p.add_argument("--sealer-id", default=None, help="name in audit_sealer_status() "
                   "(default: host name)")
    p.add_argument("--once", action="store_true", help="seal what is settled now, then exit")
    p.set_defaults(func=_seal)

    p = sub.add_parser("verify", help="verify the chain with the key and the checkpoint file",
                       description="Exit 0 when the chain is intact, 1 when a row is bad.")
    _common(p)
    p.add_argument("--full", action="store_true", help="re-check every row (progress on stderr)")
    p.add_argument("--offline", type=Path, default=None, metavar="DIR",
                   help="verify an exported segment (vigil audit export) instead of the database")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_verify)

    p = sub.add_parser("export", help="write sealed rows logged before DATE, their checkpoints "
                       "and a signed manifest to DIR (for archiving; verify with --offline)")
    _common(p)
    p.add_argument("--before", required=True, type=_date, help="ISO date or timestamp")
    p.add_argument("--out", required=True, type=Path, help="folder to write")
    p.add_argument("--from-seq", type=int, default=1, help="first seq (default 1)")
    p.set_defaults(func=_export)

    p = sub.add_parser("keygen", help="create a random HMAC key file (mode 0600) if missing")
    p.add_argument("path", type=Path, help="key file to create (kept off the database host "
                   "where possible; back it up: without it the chain cannot be verified)")
    p.set_defaults(func=_keygen)

    p = sub.add_parser("buffer-status", help="rows waiting to be sealed, oldest age, size")
    _dsn(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_buffer_status)

    p = sub.add_parser("async-health", help="is a sealer alive and keeping up (exit 1 if not)")
    _dsn(p)
    p.add_argument("--max-lag", type=float, default=60.0,
                   help="seal lag in seconds above which it is unhealthy (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_async_health)


def _dsn(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", default=None, help="DSN of the monitored database (default: "
                   f"$VIGIL_ADMIN_DSN with database {pg.DEFAULT_DEMO_DB}, as `vigil check`)")


def _common(p: argparse.ArgumentParser) -> None:
    _dsn(p)
    p.add_argument("--key-file", default=None, help="HMAC key file (else $VIGIL_AUDIT_KEY_FILE "
                   "or $VIGIL_AUDIT_KEY; the demo falls back to <state>/audit.key)")
    p.add_argument("--checkpoint-file", type=Path, default=None,
                   help="append-only JSON-lines file of chain heads, on the sealer's host")


def _conn_dsn(args: argparse.Namespace) -> str:
    return str(args.dsn) if args.dsn else pg.demo_dsn()


def _seal(args: argparse.Namespace) -> int:
    cfg = SealerConfig(_conn_dsn(args), keys.load_or_demo(args.key_file), args.checkpoint_file,
                       args.interval, args.batch, args.verify_every,
                       **({"sealer_id": args.sealer_id} if args.sealer_id else {}))
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    return Sealer(cfg, stop).run(once=args.once)


def _keygen(args: argparse.Namespace) -> int:
    created = keys.ensure_key_file(args.path)
    print(f"{args.path}: {'created' if created else 'exists, kept'}")
    return 0


def _date(text: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _export(args: argparse.Namespace) -> int:
    key = keys.load_or_demo(args.key_file)
    with pg.connect(_conn_dsn(args), application_name="vigil-audit-export") as conn:
        m = export.export(conn, key, checkpoints.read(args.checkpoint_file), before=args.before,
                          out=args.out, from_seq=args.from_seq)
    print(f"exported seq {m['from_seq']}..{m['to_seq']} ({m['rows']} rows) to {args.out}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    key = keys.load_or_demo(args.key_file)
    if args.offline is not None:
        return _report(export.verify_offline(key, args.offline), args.json)

    def progress(done: int, total: int) -> None:
        print(f"verified {done} of {total} rows", file=sys.stderr, flush=True)

    with pg.connect(_conn_dsn(args), application_name="vigil-audit-verify") as conn:
        res = verify.run(conn, key, checkpoints.read(args.checkpoint_file), full=args.full,
                         progress=progress if args.full else None)
    return _report(res, args.json)


def _report(res: verify.Result, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": res.ok, "checked": res.checked, "from_seq": res.start + 1,
                          "head_seq": res.head_seq,
                          "findings": [f.__dict__ for f in res.findings]}, indent=2))
    elif res.ok:
        print(f"audit chain intact: {res.checked} rows checked after seq {res.start}, "
              f"head {res.head_seq}")
    else:
        first = res.first
        assert first is not None
        print(f"audit chain BROKEN at seq {first.seq} ({first.kind}): {first.detail}")
        for f in sorted(res.findings, key=lambda f: f.seq)[1:]:
            print(f"  also seq {f.seq} ({f.kind}): {f.detail}")
    return 0 if res.ok else 1


def _buffer_status(args: argparse.Namespace) -> int:
    with pg.connect(_conn_dsn(args)) as conn:
        row = conn.execute("SELECT * FROM vigil_monitor.audit_buffer_status()").fetchone()
    assert row is not None
    data = {"rows_waiting": row[0], "oldest_waiting_seconds": row[1], "size_bytes": row[2]}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for k, v in data.items():
            print(f"{k:<24} {v}")
    return 0


def _async_health(args: argparse.Namespace) -> int:
    with pg.connect(_conn_dsn(args)) as conn:
        rows = conn.execute("SELECT * FROM vigil_monitor.audit_sealer_status()").fetchall()
        waiting = conn.execute("SELECT * FROM vigil_monitor.audit_buffer_status()").fetchone()
    assert waiting is not None
    lag = float(str(waiting[1]))
    sealers = [{"sealer_id": r[0], "alive": r[1], "heartbeat_age_seconds": r[2],
                "seal_lag_seconds": r[3], "rows_sealed_total": r[4], "rows_per_second": r[5],
                "last_error": r[6]} for r in rows]
    problems = []
    if not any(s["alive"] for s in sealers):
        problems.append("no sealer is alive (start `vigil audit seal`)")
    if lag > args.max_lag:
        problems.append(f"seal lag {lag:.1f}s is above {args.max_lag:.0f}s")
    if args.json:
        print(json.dumps({"healthy": not problems, "problems": problems,
                          "seal_lag_seconds": lag, "sealers": sealers}, indent=2))
    else:
        print(f"{'sealer':<24} {'alive':<6} {'heartbeat':>10} {'sealed':>10} {'rows/s':>8}  "
              "last error")
        for s in sealers:
            print(f"{s['sealer_id']!s:<24} {'yes' if s['alive'] else 'no':<6} "
                  f"{float(str(s['heartbeat_age_seconds'])):>9.1f}s {s['rows_sealed_total']!s:>10} "
                  f"{float(str(s['rows_per_second'])):>8.1f}  {s['last_error'] or '-'}")
        print(f"seal lag {lag:.1f}s: " + ("healthy" if not problems else "; ".join(problems)))
    return 0 if not problems else 1

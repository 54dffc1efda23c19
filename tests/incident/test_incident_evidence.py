"""`vigil incident logs` and `vigil incident evidence collect|verify` against the real
PostgreSQL and a live router: the scope's records, no PHI anywhere, a changed byte named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from incident_helpers import (
    ACTOR,
    AUTH,
    CANARY_NAME,
    OTHER,
    World,
    assert_no_phi,
    run_cli,
)

from vigil.core import pg

BUNDLE_FILES = {"scope.json", "incident.json", "alerts.json", "sessions.json",
                "audit_rows.json", "access_records.json", "roles.json", "grants.json",
                "policies.json", "settings.json", "audit_chain_head.json", "manifest.json",
                "manifest.sha256"}


@pytest.mark.parametrize("table,columns", [
    # the PHI column is the primary key
    ("mrn_registry", "mrn text PRIMARY KEY, tenant_id text"),
    # enable_audit --pk names the key the trigger records: a PHI column that is only UNIQUE
    ("mrn_patients", "id serial PRIMARY KEY, mrn text UNIQUE, tenant_id text"),
])
def test_an_audited_table_keyed_by_a_phi_column_shows_no_key(
        world: World, capsys: pytest.CaptureFixture[str], table: str, columns: str) -> None:
    """The audit row's key is a value of the row: redacted when its column is PHI (011)."""
    name = f"public.{table}"
    with pg.connect(world.dsn) as conn:
        conn.execute(f"CREATE TABLE {name} ({columns})".encode())
        conn.execute("SELECT vigil_monitor.register_phi_column(%s, 'mrn')", (name,))
        conn.execute("SELECT vigil_monitor.enable_audit(%s, 'mrn')", (name,))
        with conn.transaction():
            conn.execute("SELECT set_config('app.current_actor_id', %s, true)", (ACTOR,))
            conn.execute(f"INSERT INTO {name} (mrn, tenant_id) VALUES (%s, %s)".encode(),
                         (f"MRN {table} {CANARY_NAME}", world.tenant))
    code, out = run_cli(capsys, *world.cli("incident", "logs", str(world.incident), "--json"))
    assert code == 0, out
    assert_no_phi(out, "incident logs --json")
    [row] = [r for r in json.loads(out)["audit_rows"] if r["table_name"] == name]
    assert row["row_pk"] == "[redacted: PHI column]" and row["operation"] == "INSERT"


def test_logs_lists_the_scope_records_without_phi(world: World,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, *world.cli("incident", "logs", str(world.incident), "--json"))
    assert code == 0, out
    assert_no_phi(out, "incident logs --json")
    doc = json.loads(out)
    assert doc["scope"]["actors"] == [ACTOR] and doc["scope"]["tenants"] == [world.tenant]
    actors = {r["actor_id"] for r in doc["access_records"]}
    assert ACTOR in actors and OTHER not in actors   # OTHER acts on the other tenant only
    assert len([r for r in doc["access_records"] if r["actor_id"] == ACTOR]) == 20
    assert all(set(r) == {"id", "ts", "tenant_id", "actor_id", "action", "success"}
               for r in doc["access_records"])      # no resource, no reason: free text
    updates = [r for r in doc["audit_rows"] if r["actor_id"] == ACTOR]
    assert updates and updates[0]["operation"] == "UPDATE"
    assert updates[0]["changed_columns"] == ["stage"]
    code, table = run_cli(capsys, *world.cli("incident", "logs", str(world.incident)))
    assert code == 0 and "DENIED" in table and ACTOR in table
    assert_no_phi(table, "incident logs")


def test_evidence_bundle_is_complete_recorded_phi_free_and_a_changed_byte_is_named(
        world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "bundle"
    code, out = run_cli(capsys, *world.cli("incident", "evidence", "collect",
                                           str(world.incident), "--out", str(out_dir),
                                           "--who", "dana", "--json"))
    assert code == 0, out
    assert_no_phi(out, "evidence collect")
    doc = json.loads(out)
    assert {p.name for p in out_dir.iterdir()} == BUNDLE_FILES
    for f in out_dir.iterdir():
        assert_no_phi(f.read_text(), f.name)
        assert f.stat().st_mode & 0o077 == 0   # private to the collector
    sessions = json.loads((out_dir / "sessions.json").read_text())
    assert sessions and all("query" not in s for s in sessions)
    assert {"role", "state", "application_name", "client_addr", "backend_start"} <= set(
        sessions[0])
    assert json.loads((out_dir / "policies.json").read_text())["policies"]
    assert "head" in json.loads((out_dir / "audit_chain_head.json").read_text())
    alerts = json.loads((out_dir / "alerts.json").read_text())
    assert alerts[0]["timeline"] and json.loads(
        (out_dir / "incident.json").read_text())["timeline"]

    # recorded in the router: the evidence list and the incident's timeline
    listed = requests.get(f"{world.url}/api/v1/incidents/{world.incident}/evidence",
                          headers=AUTH, timeout=10).json()["evidence"]
    mine = [e for e in listed if e["path"] == str(out_dir.resolve())]
    assert mine and mine[0]["manifest_hash"] == doc["manifest_hash"]
    assert mine[0]["collected_by"] == "dana" and mine[0]["files"] == 11
    events = requests.get(f"{world.url}/api/v1/incidents/{world.incident}/timeline",
                          headers=AUTH, timeout=10).json()["events"]
    assert any(e["kind"] == "evidence_collected"
               and e["detail"]["manifest_hash"] == doc["manifest_hash"] for e in events)

    verify = ["incident", "evidence", "verify", str(out_dir), "--incident",
              str(world.incident), "--url", world.url, "--token", "test-incident-token-0123456789"]
    code, out = run_cli(capsys, *verify)
    assert code == 0 and "intact" in out, out
    every = ["incident", "evidence", "verify", "--incident", str(world.incident), "--url",
             world.url, "--token", "test-incident-token-0123456789"]
    code, out = run_cli(capsys, *every)   # every bundle the router recorded, where it says
    assert code == 0 and f"{out_dir.resolve()}: intact" in out, out

    target = out_dir / "access_records.json"
    data = bytearray(target.read_bytes())
    data[10] ^= 0x01                               # one changed bit
    target.write_bytes(bytes(data))
    (out_dir / "roles.json").unlink()
    (out_dir / "extra.txt").write_text("planted")
    code, out = run_cli(capsys, *verify)
    assert code == 1
    assert "changed: access_records.json" in out
    assert "removed: roles.json" in out and "added: extra.txt" in out
    assert "audit_rows.json" not in out            # only what changed is named
    code, out = run_cli(capsys, *every)
    assert code == 1 and "changed: access_records.json" in out

    # rewriting the manifest to match is caught by its own hash and the router's record
    from vigil.evidence import manifest
    (out_dir / "extra.txt").unlink()
    manifest.write(out_dir, {"incident_id": world.incident})
    code, out = run_cli(capsys, *verify)
    assert code == 1 and "router's manifest hash differs" in out


def test_evidence_collect_refuses_an_existing_bundle_and_bad_input(
        world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "state"))   # the default --out
    code, out = run_cli(capsys, *world.cli("incident", "evidence", "collect",
                                           str(world.incident)))
    assert code == 0, out
    [bundle] = (tmp_path / "state" / "evidence").iterdir()
    assert bundle.name.startswith(f"incident-{world.incident}-") and str(bundle) in out
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x").write_text("kept")
    code, out = run_cli(capsys, *world.cli("incident", "evidence", "collect",
                                           str(world.incident), "--out", str(tmp_path / "old")))
    assert code == 1 and "--out" in out and (tmp_path / "old" / "x").read_text() == "kept"
    with pytest.raises(SystemExit) as exc:
        run_cli(capsys, *world.cli("incident", "logs", str(world.incident), "--since", "soon"))
    assert exc.value.code == 2 and "--since" in capsys.readouterr().err
    code, out = run_cli(capsys, *world.cli("incident", "logs", "999999"))
    assert code == 1 and "404" in out

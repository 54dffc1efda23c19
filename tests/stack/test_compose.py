"""docker-compose.yml and the Dockerfile, checked for structure (no Docker engine runs here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from vigil.stack.parts import ORDER

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

# Every part `vigil up` runs, plus what compose needs around them (the database, the one-shot
# setup, Grafana): a part added to the native stack without a service fails here.
EXPECTED_SERVICES = {*ORDER, "postgres", "setup", "grafana"}
# part -> published port: the same defaults as the native stack (docs/CONTRACTS.md).
EXPECTED_PORTS = {18090, 18091, 18092, 9090, 9093, 3000}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            if vol.get("type") == "bind":
                out.append((vol["source"], vol["target"]))
            continue
        source, target = vol.split(":")[:2]
        if source.startswith((".", "/")):
            out.append((source, target))
    return out


def test_every_part_of_the_stack_is_a_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == EXPECTED_SERVICES


def test_published_ports_are_the_native_defaults_on_localhost(compose: dict[str, Any]) -> None:
    published: set[int] = set()
    for name, svc in compose["services"].items():
        for spec in svc.get("ports") or []:
            host_ip, host_port, container_port = str(spec).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {spec} beyond localhost"
            assert host_port == container_port
            published.add(int(host_port))
    assert published == EXPECTED_PORTS


def test_every_service_shares_one_network_namespace(compose: dict[str, Any]) -> None:
    # So 127.0.0.1 in the project's configs means the same as in the native stack.
    for name, svc in compose["services"].items():
        if name == "postgres":
            assert "network_mode" not in svc
        else:
            assert svc.get("network_mode") == "service:postgres", name


def test_every_mounted_host_file_exists(compose: dict[str, Any]) -> None:
    seen = 0
    for name, svc in compose["services"].items():
        for source, _target in _bind_mounts(svc):
            path = (ROOT / source).resolve()
            assert path.exists(), f"service {name} mounts {source}, which does not exist"
            seen += 1
    assert seen >= 5


def test_the_native_configs_are_mounted_not_copied(compose: dict[str, Any]) -> None:
    services = compose["services"]
    mounts = {name: dict(_bind_mounts(svc)) for name, svc in services.items()}
    assert mounts["prometheus"]["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["prometheus"]["./prometheus/rules"] == "/etc/prometheus/rules"
    assert (mounts["alertmanager"]["./prometheus/alertmanager.yml"]
            == "/etc/alertmanager/alertmanager.yml")
    for name in ("exporter", "router", "workload", "setup", "sink", "sealer", "maintainer"):
        assert mounts[name]["./config"] == "/app/config", name
    assert mounts["grafana"]["./grafana/provisioning"] == "/etc/grafana/provisioning"
    # No second copy of a config anywhere in the repository's compose tree.
    assert not list(ROOT.glob("docker/**/*.yml"))


def test_vigil_services_run_commands_that_exist(compose: dict[str, Any]) -> None:
    from vigil.cli import build_parser

    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    services = compose["services"]
    for name in ("workload", "exporter", "router", "sink"):
        svc = services[name]
        assert svc["build"] == "."
        command = svc["command"]
        assert command[0] in {"demo", "exporter", "router", "sink"}
        if command[0] in choices:  # parts still being built are checked once they land
            for flag in (c for c in command if c.startswith("--")):
                help_text = choices[command[0]].format_help()
                assert flag in help_text, f"{name}: vigil {command[0]} has no {flag}"


def test_services_behind_published_ports_listen_beyond_the_pods_loopback(
        compose: dict[str, Any]) -> None:
    # Docker forwards a published port to the pod's interface, not to its 127.0.0.1: a
    # service listening on loopback only would be unreachable from the host.
    command = compose["services"]["router"]["command"]
    address = command[command.index("--web.listen-address") + 1]
    assert address == "0.0.0.0:18091"
    assert compose["services"]["exporter"]["command"][-1] == "0.0.0.0:18090"


def test_alertmanager_gets_the_token_file_its_config_names(compose: dict[str, Any]) -> None:
    am = yaml.safe_load((ROOT / "prometheus" / "alertmanager.yml").read_text())
    files = {hook["http_config"]["authorization"]["credentials_file"]
             for rec in am["receivers"] for hook in rec.get("webhook_configs") or []}
    (secret,) = compose["services"]["alertmanager"]["secrets"]
    for name in files:
        expected = name if name.startswith("/") else f"/etc/alertmanager/{name}"
        assert secret["target"] == expected
    assert compose["secrets"][secret["source"]] == {"environment": "VIGIL_ROUTER_TOKEN"}


def test_dockerfile_copies_only_what_exists_and_runs_vigil() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _dest = line.split()
        for src in sources:
            assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
    assert 'ENTRYPOINT ["vigil"]' in text
    assert re.search(r"^USER (?!root)", text, re.M), "the image must not run as root"


def test_grafana_is_provisioned_with_the_dashboards(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(_bind_mounts(grafana))
    provider = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "dashboards" / "vigil.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    if path.startswith("${"):
        path = grafana["environment"][path[2:-1]]
    assert mounts["./grafana/dashboards"] == path
    assert list((ROOT / "grafana" / "dashboards").glob("*.json"))
    datasources = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "datasources" / "vigil.yml").read_text())
    # The pod's 127.0.0.1 is Prometheus's, as in the native stack.
    assert datasources["datasources"][0]["url"] == "http://127.0.0.1:9090"


def test_sealer_and_maintainer_run_on_the_demo_database_after_setup(
        compose: dict[str, Any]) -> None:
    """Issue #16: every flag the compose file passes is one `vigil audit seal` /
    `vigil db maintain` takes."""
    services = compose["services"]
    for name, words in (("sealer", ("audit", "seal")), ("maintainer", ("db", "maintain"))):
        svc = services[name]
        assert svc["build"] == "." and svc["restart"] == "unless-stopped"
        assert tuple(svc["command"][:2]) == words, name
        assert svc["depends_on"] == {"setup": {"condition": "service_completed_successfully"}}
        dsn = svc["command"][svc["command"].index("--dsn") + 1]
        assert dsn.endswith("/vigil_demo"), name
        # each logs in as its own least-privileged role, never as the superuser
        assert dsn.startswith(f"postgresql://vigil_{name}@"), name
        help_text = subprocess.run([sys.executable, "-m", "vigil.cli", *words, "--help"],
                                   capture_output=True, text=True, check=True).stdout
        for flag in (c for c in svc["command"] if c.startswith("--")):
            assert flag in help_text, f"{name}: vigil {' '.join(words)} has no {flag}"


def test_the_sealer_reads_its_key_from_a_secret_and_keeps_its_checkpoint(
        compose: dict[str, Any]) -> None:
    sealer = compose["services"]["sealer"]
    command = sealer["command"]
    assert sealer["secrets"] == ["audit_key"]
    assert command[command.index("--key-file") + 1] == "/run/secrets/audit_key"
    assert compose["secrets"]["audit_key"] == {"environment": "VIGIL_AUDIT_KEY"}
    assert "VIGIL_AUDIT_KEY" not in str(sealer.get("environment", {}))  # file, not env
    checkpoint = command[command.index("--checkpoint-file") + 1]
    volumes = dict(v.split(":")[:2] for v in sealer["volumes"])
    assert volumes["sealerstate"] == str(Path(checkpoint).parent)
    assert "sealerstate" in compose["volumes"]
    assert "install -d -o vigil" in (ROOT / "Dockerfile").read_text()  # writable by the user

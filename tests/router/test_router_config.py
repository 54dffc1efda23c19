"""router.yml and escalation.yml: the shipped samples load; typos fail with their YAML path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from router_helpers import REPO

from router.config import Listen, load_config, load_escalation, parse_listen_address
from router.matrix import Matrix
from vigil.cli import main
from vigil.core.errors import ConfigError


def test_shipped_escalation_reproduces_the_runbook_table() -> None:
    esc = load_escalation(REPO / "config" / "escalation.yml", env={})
    table = {lv: (esc.levels[lv].response_time, [s.targets for s in esc.levels[lv].steps])
             for lv in ("P1", "P2", "P3", "P4")}
    assert table == {
        "P1": (900.0, [("security-team",), ("cto",)]),
        "P2": (3600.0, [("security-team",), ("team-lead",)]),
        "P3": (14400.0, [("on-call",)]),
        "P4": (86400.0, [("queue",)]),
    }
    assert esc.levels["P1"].notices[0].targets == ("cto", "legal")
    assert Matrix(esc).severity({"severity": "critical"}).level == "P1"


def test_shipped_router_config_loads(tmp_path: Path) -> None:
    cfg = load_config(REPO / "config" / "router.yml", env={"VIGIL_ROUTER_TOKEN": "t0ken-x"})
    assert cfg.router.listen.port == 18091
    assert str(cfg.router.auth.bearer_token) == "t0ken-x"
    assert "t0ken-x" not in repr(cfg)


def _broken(tmp_path: Path, mutate: Any) -> Path:
    doc = yaml.safe_load((REPO / "config" / "escalation.yml").read_text())
    mutate(doc)
    path = tmp_path / "escalation.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(("mutate", "path", "words"), [
    (lambda d: d["levels"]["P1"]["steps"][1].update(targets=["ctoo"]),
     "levels.P1.steps[1].targets[0]", "unknown target 'ctoo'"),
    (lambda d: d["levels"].pop("P3"), "levels.P3", "level missing"),
    (lambda d: d["targets"]["legal"].update(channel="fax"), "targets.legal.channel",
     "unknown channel"),
    (lambda d: d["levels"]["P2"].update(respones_time="1h"), "levels.P2.respones_time",
     "did you mean 'response_time'"),
    (lambda d: d["levels"]["P2"]["steps"][1].update(delay="soon"),
     "levels.P2.steps[1].delay", "invalid duration"),
    (lambda d: d["severity"]["mapping"].update(critical="P0"), "severity.mapping.critical",
     "P0"),
    (lambda d: d["levels"]["P1"]["notices"][0].update(targets=["lawyers"]),
     "levels.P1.notices[0].targets[0]", "unknown target"),
])
def test_a_typo_fails_at_load_with_its_yaml_path(tmp_path: Path, mutate: Any, path: str,
                                                 words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_escalation(_broken(tmp_path, mutate), env={})
    assert any(loc == path and words in msg for loc, msg in exc.value.details), exc.value.details


def test_check_config_exits_0_when_valid_and_1_when_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_ROUTER_TOKEN", "t0ken-x")
    assert main(["router", "--config", str(REPO / "config" / "router.yml"),
                 "--check-config"]) == 0
    assert "1 on-call schedules)" in capsys.readouterr().out
    router_yml = yaml.safe_load((REPO / "config" / "router.yml").read_text())
    router_yml["escalation_file"] = str(_broken(
        tmp_path, lambda d: d["levels"]["P1"]["steps"][0].update(targets=["nobody"])))
    bad = tmp_path / "router.yml"
    bad.write_text(yaml.safe_dump(router_yml))
    assert main(["router", "--config", str(bad), "--check-config"]) == 1
    assert "levels.P1.steps[0].targets[0]: unknown target 'nobody'" in capsys.readouterr().err


ALL = "0.0.0.0"  # noqa: S104 - the parser's expected answer, nothing binds here


@pytest.mark.parametrize(("address", "listen"), [
    ("0.0.0.0:18091", Listen(ALL, 18091)), (":9999", Listen(ALL, 9999)),
    ("[::1]:80", Listen("::1", 80)), ("router.local:1", Listen("router.local", 1))])
def test_listen_address_is_parsed_like_the_exporters(address: str, listen: Listen) -> None:
    assert parse_listen_address(address) == listen


def test_a_bad_listen_address_fails_check_config(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIGIL_ROUTER_TOKEN", "t0ken-x")
    for bad in ("18091", "host:port", "127.0.0.1:70000"):
        assert main(["router", "--config", str(REPO / "config" / "router.yml"),
                     "--web.listen-address", bad, "--check-config"]) == 1
        assert "--web.listen-address" in capsys.readouterr().err


def test_auth_is_required(tmp_path: Path) -> None:
    path = tmp_path / "router.yml"
    path.write_text(yaml.safe_dump({"database": {"dsn": "dbname=x"}, "auth": {},
                                    "escalation_file": str(REPO / "config/escalation.yml")}))
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert "bearer_token" in str(exc.value)


def test_prometheus_url_must_be_http_and_is_reported_at_its_path(tmp_path: Path) -> None:
    path = tmp_path / "router.yml"
    path.write_text(yaml.safe_dump({"database": {"dsn": "dbname=x"},
                                    "auth": {"bearer_token": "t0ken-x"},
                                    "prometheus_url": "prometheus:9090",
                                    "escalation_file": str(REPO / "config/escalation.yml")}))
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert "prometheus_url must be an http:// or https:// URL" in str(exc.value)
    shipped = load_config(REPO / "config" / "router.yml", env={"VIGIL_ROUTER_TOKEN": "t0ken-x"})
    assert shipped.router.prometheus_url == "http://127.0.0.1:9090"
    assert shipped.router.related_ignore_labels == ("job", "instance", "target")


def test_a_console_prometheus_url_fails_at_load_saying_to_move_it(tmp_path: Path) -> None:
    """The router has one Prometheus URL, the top-level one: a config written for the old
    console.prometheus_url fails at its YAML path instead of quietly losing the charts."""
    path = tmp_path / "router.yml"
    path.write_text(yaml.safe_dump({
        "database": {"dsn": "dbname=x"}, "auth": {"bearer_token": "t0ken-x"},
        "escalation_file": str(REPO / "config/escalation.yml"),
        "console": {"secret": "s" * 32, "users": {"a": {"password": "p"}},
                    "prometheus_url": "http://127.0.0.1:9090"}}))
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert dict(exc.value.details) == {
        "console.prometheus_url": "moved: set the top-level prometheus_url instead (the "
                                  "overview's charts and `vigil alert context` read that one "
                                  "URL)"}
    assert f"{path}: console.prometheus_url: moved: set the top-level prometheus_url" \
        in str(exc.value)

"""Slack, PagerDuty Events v2, SMTP email, file and log channels against real local far ends.

Every notification goes through the router's own path (webhook → engine → outbox →
channel) on a ManualClock. Each far end records exactly what arrived, so the tests
check the shape each service documents, that the idempotency key travels, and that
nothing outside the alert's labels and annotations (PHI-shaped canaries in the raw
payload) and no secret (router token, SMTP password, Slack URL path) leaves the router.
"""

from __future__ import annotations

import asyncio
import base64
import email
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from router_helpers import TOKEN, Router, am_alert, am_payload, serve_local, serving

from router.channels import Delivery, DeliveryError
from router.channels.email import EmailChannel
from router.channels.pagerduty import PagerDutyChannel
from router.config import Channel as ChannelConfig
from router.console import tokens

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"   # 32 characters, as PagerDuty issues them
SLACK_PATH = "/services/T0000CANARY/B0000CANARY/slackSecretCanary0123"
SMTP_PASSWORD = "smtp-password-canary-9876"
PHI = ("Jane-Doe-MRN-00042", "123-45-6789", "patient-canary@example.org", "url-pass-canary")
SECRETS = (TOKEN, "basic-pass-xyz", SMTP_PASSWORD, "slackSecretCanary0123")


def phi_alert(name: str, severity: str) -> dict[str, Any]:
    """An alert whose raw payload carries PHI-shaped values outside labels/annotations."""
    a = am_alert(name, severity)
    a["patient"] = {"name": PHI[0], "ssn": PHI[1], "email": PHI[2]}   # unknown field: ignored
    return a


def phi_payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    doc = am_payload(*alerts)
    doc["commonAnnotations"] = {"patient": PHI[0]}
    doc["groupLabels"] = {"mrn": PHI[0]}
    doc["externalURL"] = f"http://am:{PHI[3]}@alertmanager:9093"
    return doc


def assert_clean(text: str, *, allow: tuple[str, ...] = ()) -> None:
    for value in (*PHI, *SECRETS):
        if value not in allow:
            assert value not in text, f"{value!r} leaked into a notification"


# --- far ends ---------------------------------------------------------------------------------

@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    raw: str
    doc: Any


@dataclass
class HttpEnd:
    """A real aiohttp server for Slack- and PagerDuty-shaped requests."""

    posts: list[Posted] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)   # path -> statuses to answer first
    url: str = ""
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        self.posts.append(Posted(request.path, dict(request.headers), raw, json.loads(raw)))
        queued = self.fail.get(request.path)
        if queued:
            return web.Response(status=queued.pop(0), text="invalid_payload")
        if request.path.startswith("/v2/enqueue"):   # PagerDuty answers 202 with a JSON body
            return web.json_response({"status": "success", "message": "Event processed",
                                      "dedup_key": json.loads(raw).get("dedup_key")}, status=202)
        return web.Response(text="ok")                # Slack answers 200 "ok"

    async def start(self) -> HttpEnd:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner, self.url = await serve_local(app)
        return self

    def at(self, path: str) -> list[Posted]:
        return [p for p in self.posts if p.path == path]


@dataclass
class Mail:
    sender: str
    rcpt: list[str]
    auth: str | None
    data: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.data)


@dataclass
class SmtpEnd:
    """A minimal SMTP server (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT)."""

    mails: list[Mail] = field(default_factory=list)
    mail_reply: list[str] = field(default_factory=list)   # answers to MAIL FROM, then 250
    port: int = 0
    server: asyncio.Server | None = None

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(*lines: str) -> None:
            writer.write(b"".join(line.encode() + b"\r\n" for line in lines))

        say("220 test-smtp ESMTP")
        sender, rcpt, auth = "", [], None
        while line := await reader.readline():
            verb, _, arg = line.decode().rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                say("250-test-smtp", "250 AUTH PLAIN")
            elif verb == "AUTH":
                auth = base64.b64decode(arg.split()[-1]).decode()
                say("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                reply = self.mail_reply.pop(0) if self.mail_reply else "250 OK"
                sender = arg.split(":", 1)[1].split()[0].strip("<>")
                say(reply)
            elif verb == "RCPT":
                rcpt.append(arg.split(":", 1)[1].strip().strip("<>"))
                say("250 OK")
            elif verb == "DATA":
                say("354 End data with <CR><LF>.<CR><LF>")
                await writer.drain()
                data = b""
                while (chunk := await reader.readline()) != b".\r\n":
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.mails.append(Mail(sender, rcpt, auth, data))
                sender, rcpt = "", []
                say("250 OK: queued")
            elif verb == "QUIT":
                say("221 Bye")
                break
            elif verb in ("HELO", "RSET", "NOOP"):
                say("250 OK")
            else:
                say("502 Command not implemented")
            await writer.drain()
        await writer.drain()
        writer.close()

    async def start(self) -> SmtpEnd:
        self.server = await asyncio.start_server(self.session, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def http_end() -> AsyncIterator[HttpEnd]:
    end = await HttpEnd().start()
    yield end
    assert end.runner
    await end.runner.cleanup()


@pytest.fixture
async def smtp_end() -> AsyncIterator[SmtpEnd]:
    async with serving(SmtpEnd()) as end:
        yield end


@pytest.fixture
def channel_router(make_router: Callable[..., Any], http_end: HttpEnd, smtp_end: SmtpEnd,
                   tmp_path: Path) -> Callable[[], Any]:
    """The shipped matrix with its targets bound to every channel type:
    security-team → Slack, cto → PagerDuty, legal → email, team-lead → file, on-call → log."""
    async def factory(**overrides: Any) -> tuple[Router, Path]:
        esc = yaml.safe_load((Path(__file__).parents[2] / "config" / "escalation.yml").read_text())
        notes = tmp_path / "out" / "notifications.jsonl"
        esc["channels"] = {
            "slack": {"type": "slack", "url": http_end.url + SLACK_PATH, "timeout": "2s"},
            "pd": {"type": "pagerduty", "routing_key": ROUTING_KEY,
                   "url": http_end.url + "/v2/enqueue", "timeout": "2s"},
            "mail": {"type": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp_end.port,
                     "smtp_username": "vigil", "smtp_password": SMTP_PASSWORD,
                     "sender": "vigil-router@example.org", "timeout": "5s"},
            "file": {"type": "file", "path": str(notes)},
            "log": {"type": "log"},
            "sink": esc["channels"]["sink"],
        }
        bind = {"security-team": "slack", "cto": "pd", "legal": "mail", "team-lead": "file",
                "on-call": "log", "queue": "file"}
        for target, channel in bind.items():
            esc["targets"][target].pop("schedule", None)   # on-call: a fixed target here
            esc["targets"][target]["channel"] = channel
        esc["targets"]["legal"]["to"] = ["legal@example.org", "counsel@example.org"]
        path = tmp_path / "escalation-channels.yml"
        path.write_text(yaml.safe_dump(esc))
        router: Router = await make_router(escalation=path, **overrides)
        return router, notes
    return factory


# --- end to end through the router --------------------------------------------------------

async def test_slack_gets_documented_text_payload_with_the_key_and_retries_keep_it(
        channel_router: Callable[[], Any], http_end: HttpEnd) -> None:
    router, _ = await channel_router()
    http_end.fail[SLACK_PATH] = [500]           # Slack hiccups once
    assert (await router.post(phi_payload(phi_alert("SlackMe", "P1")))).status == 200
    await router.run()
    await router.advance(seconds=1)            # the retry after backoff_initial
    posts = http_end.at(SLACK_PATH)
    assert len(posts) == 2
    key = "vigil-a1-step1-security-team"
    for p in posts:
        # Slack incoming webhooks: a JSON object whose "text" is the message.
        assert p.headers["Content-Type"] == "application/json"
        assert set(p.doc) == {"text"} and isinstance(p.doc["text"], str)
        assert p.doc["text"] == f"[P1] escalation step 1: SlackMe fired (alert 1) [{key}]"
        assert p.headers["Idempotency-Key"] == key
        assert_clean(p.raw + json.dumps(p.headers))
    assert router.sql("SELECT state, attempts FROM vigil_router.outbox "
                      "WHERE target = 'security-team'") == [("sent", 2)]
    assert PHI[0] in router.sql("SELECT body FROM vigil_router.raw_payloads")[0][0]  # it came in


async def test_slack_carries_the_same_signed_ack_link_as_every_retry_when_the_console_is_on(
        channel_router: Callable[[], Any], http_end: HttpEnd) -> None:
    secret = "console-secret-for-slack-0123456789abcdef"
    router, _ = await channel_router(console={
        "secret": secret, "ack_link_ttl": "10m",
        "users": {"alice": {"password": "pw", "role": "responder"}}})
    http_end.fail[SLACK_PATH] = [500]
    assert (await router.post(phi_payload(phi_alert("SlackLink", "P1")))).status == 200
    await router.run()
    await router.advance(seconds=1)
    texts = [p.doc["text"] for p in http_end.at(SLACK_PATH)]
    assert len(texts) == 2 and texts[0] == texts[1]
    m = re.search(r"<(http://127\.0\.0\.1:18091/console/ack/([^|>]+))\|Acknowledge>", texts[0])
    assert m, texts[0]
    link = tokens.read_ack_link(secret, m.group(2))
    assert link is not None and (link.alert_id, link.step, link.target) == (
        1, 1, "security-team")
    assert link.expires == (router.clock.now() - timedelta(seconds=1)
                            + timedelta(minutes=10)).timestamp()
    # The stored payload has no link: it is signed at send time, never kept.
    assert "ack_url" not in json.dumps(router.sql("SELECT payload FROM vigil_router.outbox"),
                                       default=str)


async def test_slack_client_error_is_final(channel_router: Callable[[], Any],
                                           http_end: HttpEnd) -> None:
    router, _ = await channel_router()
    http_end.fail[SLACK_PATH] = [404]           # Slack's "no_service": retrying can't help
    await router.post(am_payload(am_alert("Gone", "P1")))
    await router.run()
    assert router.sql("SELECT state, attempts, last_error FROM vigil_router.outbox "
                      "WHERE target = 'security-team'") == [
        ("dead", 1, "HTTP 404: invalid_payload")]


async def test_pagerduty_gets_events_v2_trigger_then_resolve(
        channel_router: Callable[[], Any], http_end: HttpEnd) -> None:
    router, _ = await channel_router()
    await router.post(phi_payload(phi_alert("PageMe", "P1")))
    await router.run()                          # notice to cto (PagerDuty) at once
    status, _ = await router.api("POST", "/api/v1/alerts/1/resolve", json={"who": "sam"})
    assert status == 200
    await router.run()
    trigger, resolve = http_end.at("/v2/enqueue")
    # Events API v2: routing_key, event_action, dedup_key; payload.summary/source/severity.
    assert trigger.headers["Content-Type"] == "application/json"
    t = trigger.doc
    assert set(t) == {"routing_key", "event_action", "dedup_key", "payload"}
    assert t["routing_key"] == ROUTING_KEY and t["event_action"] == "trigger"
    assert t["dedup_key"] == "vigil-a1" and len(t["dedup_key"]) <= 255
    assert {"summary", "source", "severity"} <= set(t["payload"])
    assert t["payload"]["severity"] == "critical"     # one of critical, error, warning, info
    assert t["payload"]["source"] == "vigil-router"
    assert 0 < len(t["payload"]["summary"]) <= 1024
    assert t["payload"]["custom_details"]["idempotency_key"] == "vigil-a1-notice1-cto"
    assert t["payload"]["custom_details"]["alert"]["labels"]["alertname"] == "PageMe"
    # A resolve carries only the key fields, for the same incident.
    assert resolve.doc == {"routing_key": ROUTING_KEY, "event_action": "resolve",
                           "dedup_key": "vigil-a1"}
    for p in (trigger, resolve):
        # The routing key must travel (PagerDuty needs it), once, and nothing else secret.
        assert p.raw.count(ROUTING_KEY) == 1
        assert_clean(p.raw)


async def test_email_goes_over_smtp_with_key_as_message_id_and_no_secret_in_it(
        channel_router: Callable[[], Any], smtp_end: SmtpEnd) -> None:
    router, _ = await channel_router()
    await router.post(phi_payload(phi_alert("MailMe", "P1")))
    await router.run()                          # notice to legal (email) at once
    assert len(smtp_end.mails) == 1
    mail = smtp_end.mails[0]
    assert mail.sender == "vigil-router@example.org"
    assert mail.rcpt == ["legal@example.org", "counsel@example.org"]
    assert mail.auth == f"\0vigil\0{SMTP_PASSWORD}"   # the password goes to AUTH only
    msg = mail.message
    key = "vigil-a1-notice1-legal"
    assert msg["Message-ID"] == f"<{key}@vigil-router>"
    assert msg["X-Idempotency-Key"] == key
    assert msg["To"] == "legal@example.org, counsel@example.org"
    assert msg["Subject"] == "[P1] notice: MailMe fired (alert 1)"
    body = json.loads(msg.get_payload(decode=True))  # type: ignore[arg-type]
    assert body["idempotency_key"] == key and body["alert"]["alertname"] == "MailMe"
    assert_clean(mail.data.decode())


async def test_file_channel_appends_one_json_line_per_delivery(
        channel_router: Callable[[], Any]) -> None:
    router, notes = await channel_router()
    await router.post(phi_payload(phi_alert("FileMe", "P2"), phi_alert("Queue", "P4")))
    await router.run()                          # P2 → security-team (Slack); P4 → queue (file)
    await router.advance(hours=1)               # P2 step 2 → team-lead (file)
    text = notes.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(d["target"], d["alert"]["alertname"], d["idempotency_key"]) for d in lines] == [
        ("queue", "Queue", "vigil-a2-step1-queue"),
        ("team-lead", "FileMe", "vigil-a1-step2-team-lead")]
    assert_clean(text)


async def test_log_channel_writes_the_summary_and_key_to_the_notify_logger(
        channel_router: Callable[[], Any], caplog: pytest.LogCaptureFixture) -> None:
    router, _ = await channel_router()
    caplog.set_level(logging.WARNING, logger="vigil.router.notify")
    await router.post(phi_payload(phi_alert("LogMe", "P3")))
    await router.run()
    records = [r for r in caplog.records if r.name == "vigil.router.notify"]
    assert [r.getMessage() for r in records] == ["notification"]  # constant; data in fields
    assert records[0].__dict__["f_summary"] == "[P3] escalation step 1: LogMe fired (alert 1)"
    assert records[0].__dict__["f_key"] == "vigil-a1-step1-on-call"
    assert records[0].__dict__["f_target"] == "on-call"
    assert_clean(caplog.text)


# --- failure semantics of the channels themselves ----------------------------------------

def _delivery(kind: str = "escalation") -> Delivery:
    payload = {"idempotency_key": "vigil-a7-step1-legal", "kind": kind, "step": 1,
               "alert": {"id": 7, "severity": "P2", "alertname": "X", "annotations": {}}}
    return Delivery("vigil-a7-step1-legal", "legal", ("legal@example.org",), payload, 1)


@pytest.mark.parametrize(("reply", "retryable"), [
    ("451 4.3.0 try again later", True), ("550 5.7.1 relaying denied", False)])
async def test_smtp_temporary_failure_is_retried_permanent_is_final(
        smtp_end: SmtpEnd, reply: str, retryable: bool) -> None:
    smtp_end.mail_reply.append(reply)
    channel = EmailChannel("mail", ChannelConfig(type="email", smtp_host="127.0.0.1",
                                                 smtp_port=smtp_end.port, sender="v@example.org",
                                                 timeout=5))
    with pytest.raises(DeliveryError) as info:
        await channel.send(_delivery())
    assert info.value.retryable is retryable
    assert str(info.value) == f"SMTP {reply[:3]}"
    assert smtp_end.mails == []


async def test_smtp_server_down_is_retryable() -> None:
    end = await SmtpEnd().start()
    port = end.port
    await end.stop()
    channel = EmailChannel("mail", ChannelConfig(type="email", smtp_host="127.0.0.1",
                                                 smtp_port=port, sender="v@example.org",
                                                 timeout=2))
    with pytest.raises(DeliveryError) as info:
        await channel.send(_delivery())
    assert info.value.retryable is True


async def test_pagerduty_rate_limit_is_retried_and_error_hides_the_url(
        http_end: HttpEnd) -> None:
    http_end.fail["/v2/enqueue"] = [429]
    async with aiohttp.ClientSession() as session:
        channel = PagerDutyChannel("pd", ChannelConfig(
            type="pagerduty", routing_key=ROUTING_KEY,  # type: ignore[arg-type]
            url=http_end.url + "/v2/enqueue", timeout=2), session)
        with pytest.raises(DeliveryError) as info:
            await channel.send(_delivery())
        assert info.value.retryable is True
        await channel.send(_delivery())                 # then accepted (202)
        dead = PagerDutyChannel("pd", ChannelConfig(
            type="pagerduty", routing_key=ROUTING_KEY,  # type: ignore[arg-type]
            url="http://127.0.0.1:9/v2/enqueue?token=" + ROUTING_KEY, timeout=2), session)
        with pytest.raises(DeliveryError) as info:
            await dead.send(_delivery())
        assert info.value.retryable is True and ROUTING_KEY not in str(info.value)
    assert [p.doc["payload"]["severity"] for p in http_end.at("/v2/enqueue")] == ["error"] * 2


@pytest.mark.parametrize(("body", "want"), [
    ("invalid_payload", "HTTP 404: invalid_payload"),
    ("  no_service\n", "HTTP 404: no_service"),
    ("POST /hook HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n{\"labels\": {}}", "HTTP 404"),
    ("<html>Not Found: patient Jane Doe</html>", "HTTP 404"),
])
def test_a_receivers_error_body_is_kept_only_when_it_is_a_short_code(body: str,
                                                                      want: str) -> None:
    from router.channels import DeliveryError, check_status

    with pytest.raises(DeliveryError) as exc:
        check_status(404, body)
    assert str(exc.value) == want


def test_a_failing_background_job_logs_its_type_and_sqlstate_never_row_values(
        caplog: pytest.LogCaptureFixture) -> None:
    import psycopg

    from router.app import _job_failed

    caplog.set_level(logging.ERROR, logger="vigil.router")
    exc = psycopg.errors.UniqueViolation(
        'duplicate key value\nDETAIL:  Key (note)=(patient Jane Doe, MRN 12345) already exists.')
    _job_failed("engine", exc)
    assert "Jane" not in caplog.text and "12345" not in caplog.text
    record = next(r for r in caplog.records if r.getMessage() == "background job failed")
    assert (record.__dict__["f_error"], record.__dict__["f_sqlstate"]) == (
        "UniqueViolation", "23505")


def test_slack_urls_and_credential_headers_are_masked_wherever_they_appear() -> None:
    from router.config import Channel
    from vigil.core.secrets import scrub

    slack = "https://hooks.example/services/T000/B000/XyZsecretPathPart"
    Channel(type="slack", url=slack)
    Channel(type="webhook", url="http://127.0.0.1:18092/hook/x",
            headers={"X-Api-Key": "k-123456", "Content-Type": "application/json"})
    text = scrub(f"POST {slack} failed; sent X-Api-Key: k-123456 as application/json")
    assert "XyZsecretPathPart" not in text and "k-123456" not in text
    assert "application/json" in text  # ordinary headers stay readable

"""The shared foundations every part uses (#10): durations, listen addresses, the HTTP client.
No PostgreSQL needed."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from support.polling import free_port

from router.config import Listen, parse_listen_address
from vigil.core import durations, httpclient, listen
from vigil.core.errors import ConfigError


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.5, "500ms"), (90, "1m30s"), (2100, "35m"), (8100, "2h15m"), (172800, "2d")])
def test_format_writes_the_shortest_duration_both_grammars_read_back(
        seconds: float, text: str) -> None:
    assert durations.format(seconds) == text
    assert durations.parse(text) == durations.parse_prometheus(text) == seconds


def test_the_config_grammar_takes_bare_numbers_and_decimals_prometheus_does_not() -> None:
    assert durations.parse(15) == 15.0 and durations.parse("1.5s") == 1.5
    for text in ("15", "1.5s"):
        with pytest.raises(durations.DurationError, match="not a Prometheus duration"):
            durations.parse_prometheus(text)
    assert durations.parse_prometheus("1y") == 365 * 86400
    with pytest.raises(ValueError, match="use a number with a unit"):  # config code catches it
        durations.parse("5 minutes")


def test_one_listen_address_parser_for_the_exporter_and_the_router() -> None:
    assert listen.parse("127.0.0.1:9187") == ("127.0.0.1", 9187)
    assert listen.parse(":9187") == ("0.0.0.0", 9187)  # noqa: S104 - all interfaces
    assert listen.parse("[::1]:9187") == ("::1", 9187)
    assert parse_listen_address("[::1]:18091") == Listen("::1", 18091)
    assert listen.problem("localhost") == "expected host:port or :port, got 'localhost'"
    with pytest.raises(ConfigError) as err:
        parse_listen_address("127.0.0.1:99999")
    assert "--web.listen-address" in str(err.value)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 503 if self.path == "/down" else 200
        body = b'{"error": "not ready"}' if status == 503 else b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_the_http_client_raises_on_non_2xx_with_status_and_body_unless_told_not_to(
        server: str) -> None:
    assert httpclient.get_json(f"{server}/") == {"ok": True}
    with pytest.raises(httpclient.HttpError) as err:
        httpclient.request(f"{server}/down")
    assert err.value.status == 503 and b"not ready" in err.value.body
    assert httpclient.request(f"{server}/down", check=False)[0] == 503
    assert httpclient.is_healthy(f"{server}/") and not httpclient.is_healthy(f"{server}/down")


def test_the_http_client_refuses_other_schemes_and_reports_no_answer() -> None:
    with pytest.raises(ValueError, match="only http"):
        httpclient.request("file:///etc/passwd")
    with pytest.raises(httpclient.HttpError) as err:
        httpclient.request(f"http://127.0.0.1:{free_port()}/x")
    assert err.value.status is None and isinstance(err.value, OSError)

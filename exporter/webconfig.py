"""``--web.config.file`` in Prometheus exporter-toolkit's format: TLS and basic auth.

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional
      client_ca_file: ca.crt                         # optional
      min_version: TLS12                             # TLS10..TLS13, default TLS12
      max_version: TLS13
    http_server_config:
      headers: {X-Frame-Options: deny}
    basic_auth_users:
      prometheus: $2y$10$...                          # bcrypt hash (htpasswd -nBC 10)
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Middleware

from vigil.core import config as vconfig
from vigil.core.config import Secret
from vigil.core.errors import ConfigError

ClientAuth = Literal["NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                     "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]
TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
             "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True)
class TlsServerConfig:
    cert_file: str
    key_file: str
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: str | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion = "TLS13"


@dataclass(frozen=True)
class HttpServerConfig:
    http2: bool = True   # accepted for compatibility; aiohttp serves HTTP/1.1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebConfig:
    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = HttpServerConfig()
    basic_auth_users: dict[str, Secret] = field(default_factory=dict)


def load_web_config(path: str | Path) -> WebConfig:
    data = vconfig.load_yaml(path)
    cfg = vconfig.build(WebConfig, data or {}, str(path))
    errors = []
    for user, hashed in cfg.basic_auth_users.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            errors.append((f"basic_auth_users.{user}", "must be a bcrypt hash, not a password "
                                                       "(htpasswd -nBC 10 USER)"))
    tls = cfg.tls_server_config
    base = Path(path).parent
    if tls is not None:
        for key in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(tls, key)
            if value is not None and not (base / value).is_file():
                errors.append((f"tls_server_config.{key}", f"file not found: {value}"))
        if tls.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert") \
                and not tls.client_ca_file:
            errors.append(("tls_server_config.client_ca_file",
                           f"required for client_auth_type {tls.client_auth_type}"))
    if errors:
        raise ConfigError(str(path), errors)
    return cfg


def ssl_context(cfg: WebConfig, base: Path) -> ssl.SSLContext | None:
    tls = cfg.tls_server_config
    if tls is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[tls.min_version]
    ctx.maximum_version = _VERSIONS[tls.max_version]
    ctx.load_cert_chain(base / tls.cert_file, base / tls.key_file)
    if tls.client_ca_file:
        ctx.load_verify_locations(base / tls.client_ca_file)
    ctx.verify_mode = {
        "NoClientCert": ssl.CERT_NONE, "RequestClientCert": ssl.CERT_OPTIONAL,
        "RequireAnyClientCert": ssl.CERT_REQUIRED, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[tls.client_auth_type]
    return ctx


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def headers_middleware(headers: dict[str, str]) -> Middleware:
    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers.update(headers)
        return response

    return add_headers

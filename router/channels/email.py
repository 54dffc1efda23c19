"""Email over SMTP with the standard library, in a worker thread."""

from __future__ import annotations

import asyncio
import json
import smtplib
from email.message import EmailMessage

from router.channels import Delivery, DeliveryError, summary_text
from router.config import Channel as ChannelConfig


class EmailChannel:
    type = "email"

    def __init__(self, name: str, cfg: ChannelConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.timeout = float(cfg.timeout)

    def message(self, d: Delivery) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.cfg.sender or ""
        msg["To"] = ", ".join(d.to)
        msg["Subject"] = summary_text(d.payload)
        # The same Message-ID on every retry lets mail systems drop duplicates.
        msg["Message-ID"] = f"<{d.key}@vigil-router>"
        msg["X-Idempotency-Key"] = d.key
        msg.set_content(json.dumps(d.payload, indent=2, default=str))
        return msg

    def _send(self, msg: EmailMessage) -> None:
        cfg = self.cfg
        assert cfg.smtp_host
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=self.timeout) as smtp:
            if cfg.smtp_starttls:
                smtp.starttls()
            if cfg.smtp_username and cfg.smtp_password:
                smtp.login(cfg.smtp_username, str(cfg.smtp_password))
            smtp.send_message(msg)

    async def send(self, d: Delivery) -> None:
        try:
            await asyncio.to_thread(self._send, self.message(d))
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", retryable=exc.smtp_code >= 400
                                and exc.smtp_code < 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            # The exception text can carry recipients' addresses and the server's replies;
            # the type is enough to act on, and the SMTP server's log has the rest.
            raise DeliveryError(type(exc).__name__) from None

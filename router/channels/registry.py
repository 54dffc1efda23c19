"""Which class serves each ``type`` of channel in escalation.yml."""

from __future__ import annotations

import aiohttp

from router.channels import Channel
from router.channels.email import EmailChannel
from router.channels.file import FileChannel, LogChannel
from router.channels.pagerduty import PagerDutyChannel
from router.channels.webhook import SlackChannel, WebhookChannel
from router.config import Escalation


def build(esc: Escalation, session: aiohttp.ClientSession) -> dict[str, Channel]:
    """One channel object per ``channels:`` entry of escalation.yml."""
    out: dict[str, Channel] = {}
    for name, cfg in esc.channels.items():
        if cfg.type == "webhook":
            out[name] = WebhookChannel(name, cfg, session)
        elif cfg.type == "slack":
            out[name] = SlackChannel(name, cfg, session)
        elif cfg.type == "pagerduty":
            out[name] = PagerDutyChannel(name, cfg, session)
        elif cfg.type == "email":
            out[name] = EmailChannel(name, cfg)
        elif cfg.type == "file":
            out[name] = FileChannel(name, cfg)
        else:
            out[name] = LogChannel(name, cfg)
    return out

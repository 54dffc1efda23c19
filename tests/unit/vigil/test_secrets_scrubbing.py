"""vigil/core/secrets.py: passwords found in every DSN form, registered values masked anywhere,
and the logging filter scrubbing messages, structured fields and exceptions.

tests/shared/test_secrets.py proves a canary password never leaves through a real connect
error, a log line or the CLI; these pin the pieces it relies on.
"""

from __future__ import annotations

import logging

import pytest

from vigil.core import secrets


@pytest.mark.parametrize(("dsn", "password"), [
    ("postgresql://u:pw-1@h:5432/db", "pw-1"),
    ("postgresql://h/db?sslmode=require&password=pw-2", "pw-2"),
    ("host=h password=pw-3 dbname=db", "pw-3"),
    ("host=h PASSWORD = 'pw 4\\'s' dbname=db", "pw 4's"),
    ("host=h password='pw-5", "pw-5"),                      # unterminated quote
    ("postgresql://u:pw-6@h:notaport/db", "pw-6"),           # urlsplit refuses the port
    ("postgresql://u@h/db", None),
    ("host=h dbname=db", None),
])
def test_the_password_is_found_in_every_dsn_form(dsn: str, password: str | None) -> None:
    assert secrets.dsn_password(dsn) == password


def test_a_registered_secret_is_masked_anywhere_in_text() -> None:
    secrets.register("unit-reg-4f0a")
    assert secrets.scrub("token unit-reg-4f0a, again unit-reg-4f0a") == "token ***, again ***"


def test_the_longest_secret_is_masked_first() -> None:
    secrets.register("unit-short")
    secrets.register("unit-short-and-long")
    assert secrets.scrub("x unit-short-and-long y") == "x *** y"


def test_values_too_short_to_mean_anything_are_not_registered() -> None:
    secrets.register("ab")
    secrets.register(None)
    assert secrets.scrub("ab cab") == "ab cab"


def test_password_shaped_fragments_are_masked_without_registration() -> None:
    text = "failed: host=h password=unreg-1 and postgresql://u:unreg-2@h/db?password=unreg-3"
    scrubbed = secrets.scrub(text)
    assert "unreg-" not in scrubbed
    assert scrubbed.count("***") == 3


def test_redact_keeps_everything_but_the_password() -> None:
    assert secrets.redact_dsn("postgresql://vigil:unit-rd-1@db:5433/app?sslmode=require") == \
        "postgresql://vigil:***@db:5433/app?sslmode=require"
    assert secrets.redact_dsn("host=db password=unit-rd-2 user=vigil") == \
        "host=db password=*** user=vigil"


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("vigil.unit", logging.ERROR, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_the_log_filter_scrubs_the_message_its_args_and_structured_fields() -> None:
    secrets.register("unit-log-9e2d")
    rec = record("connecting with %s", "unit-log-9e2d", f_dsn="password=unit-log-9e2d",
                 f_count=3)
    assert secrets.ScrubFilter().filter(rec) is True
    assert rec.getMessage() == "connecting with ***"
    assert rec.__dict__["f_dsn"] == "password=***" and rec.__dict__["f_count"] == 3


def test_the_log_filter_survives_a_bad_format_string() -> None:
    rec = record("%d rows for password=unit-bad-1", "not a number")
    secrets.ScrubFilter().filter(rec)
    assert rec.getMessage() == "%d rows for password=***"


def test_the_log_filter_replaces_the_exception_with_a_scrubbed_line() -> None:
    try:
        raise RuntimeError("cannot connect to postgresql://u:unit-exc-1@h/db")
    except RuntimeError as exc:
        rec = logging.LogRecord("vigil.unit", logging.ERROR, __file__, 1, "boom", None,
                                (type(exc), exc, exc.__traceback__))
    secrets.ScrubFilter().filter(rec)
    assert rec.exc_info is None
    assert rec.exc_text == "RuntimeError: cannot connect to postgresql://u:***@h/db"

"""`vigil up` shows why a part failed: the error lines of this start, not the last lines of
the log (#11: the real error scrolled out of the 10 lines shown)."""

from __future__ import annotations

from pathlib import Path

from vigil.stack.logscan import why_failed


def test_the_error_line_is_shown_even_when_many_lines_follow_it(tmp_path: Path) -> None:
    log = tmp_path / "prometheus.log"
    earlier = "ts=1 level=error msg=\"an error of an earlier start\"\n"
    log.write_text(earlier)
    start = log.stat().st_size
    lines = ["ts=2 level=info msg=\"Starting Prometheus\"",
             "ts=3 level=error component=\"rule manager\" msg=\"loading groups failed\" "
             "err=\"/x/rules/performance.yml: 24:15: parse error\""]
    lines += [f"ts={i} level=info msg=\"shutting down {i}\"" for i in range(4, 40)]
    with log.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    shown = why_failed(log, start)
    assert "performance.yml: 24:15: parse error" in shown
    assert "earlier start" not in shown          # only this start's output
    assert "shutting down" not in shown


def test_a_traceback_shows_its_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "router.log"
    frames = [f'  File "/x/mod{i}.py", line {i}, in f{i}' for i in range(30)]
    log.write_text("\n".join(["starting", "Traceback (most recent call last):", *frames,
                              "vigil.core.errors.ConfigError: escalation.yml: levels.P1: "
                              "missing"]) + "\n")
    shown = why_failed(log)
    assert "ConfigError: escalation.yml: levels.P1: missing" in shown
    assert len(shown.splitlines()) <= 12


def test_without_an_error_line_the_last_lines_are_shown(tmp_path: Path) -> None:
    log = tmp_path / "sink.log"
    log.write_text("".join(f"line {i}\n" for i in range(50)))
    shown = why_failed(log)
    assert "line 49" in shown and "line 10" not in shown
    assert why_failed(tmp_path / "absent.log") == "    (the part wrote nothing to its log)"

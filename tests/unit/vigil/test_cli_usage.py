"""A typo in a subcommand's flag is reported with that subcommand's usage, exit 2."""

from __future__ import annotations

import pytest

from vigil.cli import main


@pytest.mark.parametrize(("argv", "usage"), [
    (["up", "--fsat"], "usage: vigil up "),
    (["alert", "list", "--bogus"], "usage: vigil alert list "),
    (["db", "baseline", "show", "--nope"], "usage: vigil db baseline show "),
])
def test_a_typo_in_a_subcommand_flag_prints_that_subcommands_usage(
        argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert usage in err
    assert f"error: unrecognized arguments: {argv[-1]}" in err
    assert "COMMAND ..." not in err  # not the top-level usage


def test_a_typo_before_the_command_is_the_top_level_parsers(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--bogus", "status"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "vigil: error: unrecognized arguments: --bogus" in err

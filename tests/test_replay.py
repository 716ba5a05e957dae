"""`clean --print-cron` replays the invocation from the parsed parameters: every option
given comes back, parsed to the same values, with --yes added and nothing else."""

from __future__ import annotations

import shlex


def parse_clean(argv: list[str]) -> dict:
    """The parameters the clean command parses from ``argv`` (its own Click context)."""
    from typer.main import get_command

    from mltools.cli.app import app

    group = get_command(app)
    command = group.get_command(None, "clean")  # type: ignore[arg-type]
    ctx = command.make_context("clean", list(argv))
    return dict(ctx.params)


def test_every_option_given_is_replayed_with_the_same_value(cli, tmp_path):
    given = [
        str(tmp_path), "--name", "*%Y*", "--name", "b c", "-p", "pycache", "--empty",
        "--smaller", "1k", "--larger", "1", "--older-than", "8d", "--newer-than", "1h",
        "--type", "f,d", "--cross-mounts", "--allow-system-root", "--trash",
    ]  # fmt: skip
    result = cli("clean", *given, "--print-cron", "@daily")
    assert result.exit_code == 0, result.stderr
    schedule, *argv = shlex.split(result.stdout.replace("\\%", "%"))
    assert schedule == "@daily"
    start = argv.index("clean")
    replayed = parse_clean(argv[start + 1 :])
    expected = parse_clean([*given, "--yes"])
    assert replayed == expected
    assert replayed["yes"] is True and replayed["print_cron"] is None
    # an option left at its default is not written out
    assert "--empty-dirs" not in argv and "--json" not in argv

"""Unit tests of the shared input, output, number and signal policies (mltools._inputs,
mltools._outputs, mltools.cli._numbers, mltools._signals)."""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import pytest

from mltools import _inputs, _outputs
from mltools.errors import OutputExistsError


def test_open_input_refuses_specials_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")  # no writer: a plain open() would block forever
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tmp_path / "sock"))
    for name, kind in (("fifo", "named pipe"), ("sock", "socket"), ("/dev/zero", "character")):
        with pytest.raises(_inputs.NotRegularFileError, match=kind):
            _inputs.open_input(tmp_path / name)
        with pytest.raises(_inputs.NotRegularFileError, match=kind):
            _inputs.check_input(tmp_path / name)
    with pytest.raises(IsADirectoryError):
        _inputs.open_input(tmp_path)
    assert _inputs.check_input(tmp_path, allow_dir=True)
    (tmp_path / "ok").write_bytes(b"data")
    with _inputs.open_input(tmp_path / "ok") as f:
        assert f.read() == b"data"


def test_size_limits_and_read_errors_name_the_file(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(10 << 30)
    with pytest.raises(_inputs.InputTooLargeError, match="too large"):
        _inputs.read_small(big, max_bytes=4096)
    with pytest.raises(OSError) as info:
        _inputs.read_small("/proc/self/mem", max_bytes=4096)
    assert info.value.filename == "/proc/self/mem"


def test_show_path_is_one_line() -> None:
    assert _inputs.show_path("a\nb") == "a\\nb"
    assert _inputs.show_path("") == "''"
    assert _inputs.show_path("plain/é") == "plain/é"


def test_write_atomic_no_clobber_and_modes(tmp_path: Path) -> None:
    dst = tmp_path / "out.bin"
    old = os.umask(0o027)
    try:
        _outputs.write_atomic(dst, lambda p: p.write_bytes(b"one"))
    finally:
        os.umask(old)
    assert dst.read_bytes() == b"one" and stat.S_IMODE(dst.stat().st_mode) == 0o640
    with pytest.raises(OutputExistsError):
        _outputs.write_atomic(dst, lambda p: p.write_bytes(b"two"))
    dst.chmod(0o604)
    _outputs.write_atomic(dst, lambda p: p.write_bytes(b"two"), overwrite=True)
    assert dst.read_bytes() == b"two" and stat.S_IMODE(dst.stat().st_mode) == 0o604
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_write_atomic_race_exactly_one_wins(tmp_path: Path) -> None:
    """The other writer finishes while we write: we must not replace its file."""
    dst = tmp_path / "race.bin"

    def slow_write(p: Path) -> None:
        p.write_bytes(b"loser")
        _outputs.write_atomic(dst, lambda q: q.write_bytes(b"winner"))

    with pytest.raises(OutputExistsError):
        _outputs.write_atomic(dst, slow_write)
    assert dst.read_bytes() == b"winner"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.bin"]


def test_write_atomic_without_renameat2_uses_link(tmp_path: Path, monkeypatch) -> None:
    import ctypes

    class NoLibc:
        def __init__(self, *a, **k) -> None:
            raise OSError("no libc")

    monkeypatch.setattr(ctypes, "CDLL", NoLibc)
    dst = tmp_path / "x"
    _outputs.write_atomic(dst, lambda p: p.write_bytes(b"1"))
    with pytest.raises(OutputExistsError):
        _outputs.write_atomic(dst, lambda p: p.write_bytes(b"2"))
    assert dst.read_bytes() == b"1"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_write_failure_is_one_error_naming_the_output(tmp_path: Path, code: int) -> None:
    dst = tmp_path / "full.bin"

    def fail(p: Path) -> None:
        p.write_bytes(b"partial")
        raise OSError(code, os.strerror(code), str(p))

    with pytest.raises(_outputs.OutputError) as info:
        _outputs.write_atomic(dst, fail)
    assert str(dst) in info.value.message and ".tmp" not in info.value.message
    assert info.value.errno == code and isinstance(info.value, OSError)
    assert list(tmp_path.iterdir()) == []


def test_specials_are_never_replaced(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for overwrite in (False, True):
        with pytest.raises(_outputs.OutputError, match="named pipe"):
            _outputs.write_atomic(
                tmp_path / "fifo", lambda p: p.write_bytes(b"x"), overwrite=overwrite
            )
        with pytest.raises(_outputs.OutputError, match="named pipe"):
            _outputs.open_output(tmp_path / "fifo", overwrite=overwrite)
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode)
    with pytest.raises(_outputs.OutputError, match="directory"):
        _outputs.write_atomic(tmp_path, lambda p: p.write_bytes(b"x"), overwrite=True)


def test_interrupt_removes_the_temp_file(tmp_path: Path) -> None:
    from mltools.errors import Interrupted

    def interrupted(p: Path) -> None:
        p.write_bytes(b"half")
        raise Interrupted(15)

    with pytest.raises(Interrupted):
        _outputs.write_atomic(tmp_path / "o", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_open_output_exclusive(tmp_path: Path) -> None:
    with _outputs.open_output(tmp_path / "log") as f:
        f.write(b"a")
    with pytest.raises(OutputExistsError):
        _outputs.open_output(tmp_path / "log")
    with _outputs.open_output(tmp_path / "log", overwrite=True) as f:
        f.write(b"b")
    assert (tmp_path / "log").read_bytes() == b"b"


def test_every_numeric_option_is_bounded() -> None:
    """No INT/FLOAT option of any command is left without a finite upper bound."""
    from typer._click import types

    from mltools.cli._numbers import BoundedIntRange, FiniteFloatRange
    from mltools.cli.app import _build, _registrations

    seen = 0

    def walk(cmd, path):
        nonlocal seen
        for param in cmd.params:
            if isinstance(param.type, (types.IntParamType, types.FloatParamType)):
                seen += 1
                assert isinstance(param.type, (BoundedIntRange, FiniteFloatRange)), (path, param)
                assert param.type.max is not None and param.type.min is not None, (path, param)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    for name, (holder, _) in _registrations().items():
        walk(_build(holder).commands[name], [name])
    assert seen >= 25


def test_signal_deferred_until_the_block_ends(monkeypatch) -> None:
    import signal

    from mltools import _signals
    from mltools.errors import Interrupted

    monkeypatch.setitem(_signals._state, "installed", True)
    monkeypatch.setitem(_signals._state, "terminating", False)
    reached = []
    with pytest.raises(Interrupted) as info, _signals.deferred():
        _signals._handler(signal.SIGTERM, None)  # as if SIGTERM arrived inside Popen
        reached.append("end of block")
    assert reached == ["end of block"] and info.value.signum == signal.SIGTERM
    _signals._handler(signal.SIGTERM, None)  # a second one during cleanup: ignored


def test_error_table_exit_codes() -> None:
    from mltools.cli._errors import describe
    from mltools.errors import Interrupted

    assert describe(KeyboardInterrupt())[2] == 130
    assert describe(Interrupted(15)) == ("terminated by SIGTERM", None, 143)
    assert describe(Interrupted(1))[2] == 129
    assert describe(FileNotFoundError(2, "No such file or directory", ""))[0] == (
        "no such file or directory: ''"
    )
    _msg, hint, _ = describe(PermissionError(13, "Permission denied", "/x"))
    assert "read" not in hint

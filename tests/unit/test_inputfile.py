"""Reading a file named on the command line: regular files only, never past a limit."""

from __future__ import annotations

import io
import os
import types

import pytest

from hakari.errors import EXIT_USAGE
from hakari.inputfile import InputError, read_bounded


def test_a_regular_file_up_to_the_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_bounded(str(path), 10) == b"x" * 10
    with pytest.raises(InputError) as caught:
        read_bounded(str(path), 9)
    assert str(caught.value) == f"{path}: larger than 9 bytes"
    assert caught.value.reason == "larger than 9 bytes"
    assert caught.value.exit_code == EXIT_USAGE


def test_empty_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")
    assert read_bounded(str(path), 10) == b""


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope: cannot read: No such file or directory"):
        read_bounded(str(tmp_path / "nope"), 10)


def test_fifo_with_a_writer_is_still_refused(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    # A writer that never closes (Linux lets O_RDWR open a FIFO at once): reading to the
    # end would wait for ever.
    writer = os.open(path, os.O_RDWR)
    try:
        os.write(writer, b"<crm_mon/>")
        with pytest.raises(InputError, match="fifo: not a regular file"):
            read_bounded(str(path), 10)
    finally:
        os.close(writer)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null", "/"])
def test_devices_and_directories_are_refused(path):
    with pytest.raises(InputError, match=f"^{path}: not a regular file$"):
        read_bounded(path, 10)


def test_standard_input_may_be_a_pipe_and_is_bounded(monkeypatch):
    read_end, write_end = os.pipe()
    os.write(write_end, b"<crm_mon/>")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=pipe))
        assert read_bounded("-", 10) == b"<crm_mon/>"
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(b"x" * 11)))
    with pytest.raises(InputError, match="^standard input: larger than 10 bytes$"):
        read_bounded("-", 10)


def test_closed_standard_input(monkeypatch):
    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(InputError, match="^standard input: cannot read"):
        read_bounded("-", 10)


def test_large_reads_stop_right_after_the_limit(monkeypatch):
    sizes = []

    class Endless(io.RawIOBase):
        def read(self, size=-1):
            sizes.append(size)
            return b"z" * size

    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=Endless()))
    with pytest.raises(InputError):
        read_bounded("-", 3 << 20)
    assert sum(sizes) == (3 << 20) + 1 and max(sizes) <= 1 << 20

"""The build log: masked lines appended by the worker, read back by offset by the page."""

from __future__ import annotations

from pathlib import Path

from builds.logs import LOG_CHUNK, BuildLog, log_read


def test_lines_are_masked_and_read_back_from_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "1.log"
    log = BuildLog(path, secrets=["hunter2"])
    log.write("password is hunter2")
    log.close()

    first = log_read(path, 0)
    again = log_read(path, first.next_offset)

    assert "hunter2" not in first.text and "password is" in first.text
    assert first.next_offset == first.size == path.stat().st_size
    assert again.text == "" and again.next_offset == first.size


def test_reading_never_cuts_a_character_and_clamps_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_bytes(b"a" * (LOG_CHUNK - 1) + "é".encode())  # é straddles the chunk end

    chunk = log_read(path, 0)
    rest = log_read(path, chunk.next_offset)

    assert chunk.next_offset == LOG_CHUNK - 1, "the half character waits for the next poll"
    assert rest.text == "é"
    assert log_read(path, 10**12).text == ""
    assert log_read(tmp_path / "missing.log", 5) == log_read(tmp_path / "missing.log", 0)

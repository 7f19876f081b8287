"""The command runner: logging with secrets masked, failures with the output's tail."""

from __future__ import annotations

import time

import pytest

from image_builder import BuildError
from image_builder.runner import MASK, Runner, mask_secrets

from .conftest import RecordingReporter

HASH = "$6$salt$N.xrx12VnrrirzwTD9PN3NIEr0jaHQKH2rAiJMuj7aLdKUguU0ii5EJrvRgL"


def test_password_hashes_are_masked_anywhere_in_a_line() -> None:
    assert HASH not in mask_secrets(f"usermod -p '{HASH}' root")
    assert MASK in mask_secrets(f"root:{HASH}:19000:0:99999:7:::")


def test_wifi_keys_and_named_secrets_are_masked() -> None:
    assert "hunter2" not in mask_secrets("wifi_key = hunter2")
    assert "s3cr3t" not in mask_secrets("some output s3cr3t here", secrets=["s3cr3t"])


def test_runner_logs_command_and_output_without_secrets() -> None:
    reporter = RecordingReporter()
    runner = Runner(reporter)
    runner.add_secret("topsecretvalue")
    runner.run(["sh", "-c", f"echo '{HASH}'; echo topsecretvalue", "x"], step="test")
    log = "\n".join(reporter.lines)
    assert HASH not in log
    assert "topsecretvalue" not in log
    assert log.startswith("$ sh -c")


def test_failing_command_raises_build_error_with_output_tail() -> None:
    runner = Runner(RecordingReporter())
    with pytest.raises(BuildError) as caught:
        runner.run(["sh", "-c", "echo first; echo 'the real reason' >&2; exit 3"], step="demo")
    assert caught.value.step == "demo"
    assert "exit code 3" in caught.value.message
    assert "the real reason" in caught.value.message


def test_failure_hint_replaces_the_generic_message() -> None:
    runner = Runner(RecordingReporter())
    with pytest.raises(BuildError, match="package foo does not exist"):
        runner.run(["false"], step="demo", failure_hint=lambda tail: "package foo does not exist")


def test_timeout_kills_the_whole_process_group() -> None:
    runner = Runner(RecordingReporter())
    started = time.monotonic()
    with pytest.raises(BuildError, match="took longer"):
        # The grandchild (sleep) would keep the pipe open if only the shell were killed.
        runner.run(["sh", "-c", "sleep 30 & sleep 30; wait"], step="demo", timeout=2)
    assert time.monotonic() - started < 20


def test_missing_program_is_a_build_error() -> None:
    with pytest.raises(BuildError, match="cannot run"):
        Runner(RecordingReporter()).run(["/nonexistent/tool"], step="demo")

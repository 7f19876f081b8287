"""python -m image_builder SPEC.json --out DIR  — one build from the command line.
python -m image_builder boot-test DISK --machine q35  — boot-test a disk image (JSON result)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path

from .errors import BuildError, SpecError, is_transient
from .options import (
    DEFAULT_BASE_CACHE_DIR,
    DEFAULT_BASE_CACHE_MAX_BYTES,
    DEFAULT_CACHE_DIR,
    EngineOptions,
)
from .pipeline import build
from .report import ConsoleReporter
from .spec import BuildSpec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m image_builder", description=__doc__)
    parser.add_argument("spec", type=Path, help="BuildSpec as JSON")
    parser.add_argument("--out", type=Path, required=True, help="directory for the artifacts")
    parser.add_argument("--workdir", type=Path, help="empty work directory (default: a temp dir)")
    parser.add_argument("--mirror", help="Debian mirror URL (default: the host's apt source)")
    parser.add_argument(
        "--security-mirror",
        help="Debian security archive URL for <suite>-security (default: the host's apt source)",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR, help="shared .deb cache")
    parser.add_argument("--no-cache", action="store_true", help="do not use the .deb cache")
    parser.add_argument(
        "--base-cache", type=Path, default=DEFAULT_BASE_CACHE_DIR, help="cached base trees"
    )
    parser.add_argument("--no-base-cache", action="store_true", help="make the base every time")
    parser.add_argument(
        "--base-cache-max-gib", type=float, default=DEFAULT_BASE_CACHE_MAX_BYTES / 2**30
    )
    parser.add_argument(
        "--fresh-base", action="store_true", help="the latest packages: never reuse a base"
    )
    parser.add_argument("--system-ini", type=Path, help="system.ini to put on the boot partition")
    parser.add_argument("--build-id", default="local")
    parser.add_argument("--keep-workdir", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="step headers only")
    parser.add_argument(
        "--events",
        action="store_true",
        help="print JSON event lines for a worker (see events.py) instead of a console display",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["boot-test"]:
        return boot_test_main(argv[1:])
    args = parse_args(argv)
    if args.events:
        from .events import JsonEventReporter, exit_with_parent

        exit_with_parent()
        reporter = JsonEventReporter()
    else:
        reporter = ConsoleReporter(verbose=not args.quiet)
    try:
        spec = BuildSpec.from_dict(json.loads(args.spec.read_text())).normalise()
    except (OSError, ValueError, SpecError) as error:
        _fail(args, reporter, "spec", f"{args.spec}: {error}")
        return 2
    options = EngineOptions(
        mirror=args.mirror,
        security_mirror=args.security_mirror,
        apt_cache_dir=None if args.no_cache else args.cache,
        keep_workdir=args.keep_workdir,
        build_id=args.build_id,
        base_cache_dir=None if args.no_base_cache else args.base_cache,
        base_cache_max_bytes=int(args.base_cache_max_gib * 2**30),
        fresh_base=args.fresh_base,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="genpack-build-", dir="/var/tmp"))
    if args.workdir is None:
        workdir.rmdir()  # build() wants to create (or find empty) its own work directory
    ini = args.system_ini.read_text(encoding="utf-8-sig") if args.system_ini else None
    # `kill PID` must also stop mksquashfs & co. (own process groups): turn SIGTERM into the
    # KeyboardInterrupt the runner already handles by killing the running command's group.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        result = build(
            spec,
            workdir=workdir,
            outdir=args.out,
            options=options,
            reporter=reporter,
            system_ini=ini,
        )
    except BuildError as error:
        _fail(args, reporter, error.step, error.message, transient=is_transient(error.message))
        return 1
    except KeyboardInterrupt:
        _fail(args, reporter, "cancelled", "the build was stopped")
        return 130
    if args.events:
        reporter.emit(
            {
                "type": "result",
                "artifacts": [
                    {"kind": a.kind, "name": Path(a.path).name, "size": a.size, "sha256": a.sha256}
                    for a in result.artifacts
                ],
            }
        )
        return 0
    print(f"\nbuild {spec.name} ({spec.spec_hash()[:12]}) finished:")
    for artifact in result.artifacts:
        print(f"  {artifact.kind:12} {artifact.size / 2**20:9.1f} MiB  {artifact.path}")
    print("  timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in result.timings.items()))
    return 0


def _fail(
    args: argparse.Namespace, reporter: object, step: str, message: str, transient: bool = False
) -> None:
    if args.events:
        reporter.emit(  # type: ignore[attr-defined]
            {"type": "error", "step": step, "message": message, "transient": transient}
        )
    else:
        print(f"\nBUILD FAILED ({step}): {message}")


def boot_test_main(argv: list[str]) -> int:
    """Exit 0 when the image passed, 1 when it failed, 3 on a host error (worth a retry)."""
    from dataclasses import asdict

    from .boottest import BootTestHostError, BootTestSettings, run_boot_test

    parser = argparse.ArgumentParser(
        prog="python -m image_builder boot-test",
        description="Boot a copy of a disk image under QEMU until it wrote its status file.",
    )
    parser.add_argument("disk", type=Path, help="raw disk image (not changed)")
    parser.add_argument("--machine", required=True, help="q35, virt or raspi3b")
    parser.add_argument("--firmware", default="", help="UEFI code file (default per machine)")
    parser.add_argument("--dtb", default="", help="raspi3b: device tree on the FAT partition")
    parser.add_argument("--memory", type=int, default=1024, help="MiB")
    parser.add_argument("--timeout", type=float, default=600, help="seconds, overall")
    parser.add_argument("--system-ini", type=Path, help="system.ini to boot the copy with")
    parser.add_argument("--console-log", type=Path, help="default: DISK.console.log")
    parser.add_argument("--workdir", type=Path, help="for the copy (default: a temp dir)")
    args = parser.parse_args(argv)
    settings = BootTestSettings(
        machine=args.machine,
        firmware=args.firmware,
        dtb=args.dtb,
        memory_mib=args.memory,
        timeout_seconds=args.timeout,
    )
    console_log = args.console_log or args.disk.with_name(args.disk.name + ".console.log")
    ini = args.system_ini.read_text(encoding="utf-8-sig") if args.system_ini else None
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill → QEMU stopped too
    with tempfile.TemporaryDirectory(prefix="genpack-boottest-", dir="/var/tmp") as temp:
        try:
            result = run_boot_test(
                args.disk,
                settings,
                workdir=args.workdir or Path(temp),
                console_log=console_log,
                system_ini=ini,
                log=lambda line: print(line, file=sys.stderr, flush=True),
            )
        except BootTestHostError as error:
            print(json.dumps({"host_error": str(error)}))
            return 3
    data = asdict(result)
    data["console_log"] = str(result.console_log)
    print(json.dumps(data, indent=1))
    return 0 if result.passed else 1

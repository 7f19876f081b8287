"""A fast stand-in for the image engine, speaking the same command-line protocol.

`python -m tests.fake_engine SPEC --out O --workdir W --events [...]` writes small
artifacts in well under a second. FAKE_ENGINE_SECONDS makes it take longer (to cancel or kill
it mid-build); FAKE_ENGINE_FAIL makes it fail the way a real step would; FAKE_ENGINE_MARKS names
a directory where every run leaves a file (to count runs across processes);
FAKE_ENGINE_FORGE_NAME makes it report, as an extra "log" artifact, whatever file that name
reaches from its output directory (a compromised engine trying to publish a host file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

from image_builder.events import JsonEventReporter, exit_with_parent
from image_builder.sbom import sbom_document
from image_builder.secrets import manifest_spec
from image_builder.spec import BuildSpec

STEPS = ("rootfs", "customize", "trim", "boot chain", "system.ini agent", "pack")
FAKE_COPYRIGHT = (
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
    "Files: *\nCopyright: 2024 Somebody\nLicense: GPL-2+\n"
)


def fake_sbom(spec: dict, workdir: Path, build_id: str) -> bytes:
    """A small real SBOM (image_builder.sbom) of a tree holding base-files and the blueprint's
    packages, each at version 1.0-1 under GPL-2+."""
    root = workdir / "sbom-root"
    (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    names = sorted({"base-files", *[p for p in spec.get("packages", []) if isinstance(p, str)]})
    stanzas = []
    for name in names:
        stanzas.append(
            f"Package: {name}\nStatus: install ok installed\nArchitecture: "
            f"{spec.get('arch', 'amd64')}\nVersion: 1.0-1\nDescription: {name} (fake)\n"
        )
        (root / "usr/share/doc" / name).mkdir(parents=True, exist_ok=True)
        (root / "usr/share/doc" / name / "copyright").write_text(FAKE_COPYRIGHT)
    (root / "var/lib/dpkg/status").write_text("\n".join(stanzas))
    identity = BuildSpec(
        name=spec["name"],
        version=str(spec.get("version", "")),
        profile=spec["profile"],
        arch=spec.get("arch", "amd64"),
        suite=spec.get("suite", "bookworm"),
    )
    return json.dumps(sbom_document(identity, root, build_id), indent=1).encode()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("--out", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--events", action="store_true")
    parser.add_argument("--build-id", default="local")
    args, _ = parser.parse_known_args()
    exit_with_parent()
    reporter = JsonEventReporter()
    spec = json.loads(Path(args.spec).read_text())
    if marks := os.environ.get("FAKE_ENGINE_MARKS"):
        Path(marks).mkdir(parents=True, exist_ok=True)
        (Path(marks) / f"{os.getpid()}-{time.monotonic_ns()}").write_text(spec["name"])
    seconds = float(os.environ.get("FAKE_ENGINE_SECONDS", "0"))
    workdir, outdir = Path(args.workdir), Path(args.out)
    workdir.mkdir(parents=True, exist_ok=True)
    for index, step in enumerate(STEPS, start=1):
        reporter.step(step, index, len(STEPS))
        reporter.log(f"fake {step} for {spec['name']} ({spec['profile']})")
        (workdir / f"{index}.partial").write_bytes(b"x" * 1024)
        time.sleep(seconds / len(STEPS))
        reporter.progress(index / len(STEPS))
        if os.environ.get("FAKE_ENGINE_FAIL") == step:
            # FAKE_ENGINE_FAIL_DETAIL: text the failure echoes (a command line, its output).
            detail = os.environ.get("FAKE_ENGINE_FAIL_DETAIL", "")
            if detail:
                reporter.log(detail)
            reporter.emit(
                {
                    "type": "error",
                    "step": step,
                    "message": f"{step} failed (fake){': ' + detail if detail else ''}",
                    "transient": os.environ.get("FAKE_ENGINE_TRANSIENT") == "1",
                }
            )
            return 1
    size = int(os.environ.get("FAKE_ENGINE_IMAGE_BYTES", str(256 * 1024)))
    artifacts = []
    for kind, name, payload in (
        ("disk-raw", f"{spec['name']}-{spec['profile']}.img", os.urandom(size)),
        # The real engine's manifest shape, scrubbed by the real engine's rules.
        ("manifest", "manifest.json", json.dumps({"spec": manifest_spec(spec)}).encode()),
        (
            "sbom",
            f"{spec['name']}-{spec['profile']}.spdx.json",
            fake_sbom(spec, workdir, args.build_id),
        ),
    ):
        (outdir / name).write_bytes(payload)
        artifacts.append(
            {
                "kind": kind,
                "name": name,
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
        )
    if forged := os.environ.get("FAKE_ENGINE_FORGE_NAME"):
        target = (outdir / forged).read_bytes()
        artifacts.append(
            {
                "kind": "log",
                "name": forged,
                "size": len(target),
                "sha256": hashlib.sha256(target).hexdigest(),
            }
        )
    reporter.emit({"type": "result", "artifacts": artifacts})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""python manage.py build_image FILE.json5 --profile SLUG --out DIR

Runs the image engine in this process with a progress display: the same build a worker
would run, for trying a blueprint on a build host without the web app.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from blueprints.buildspec import buildspec_for
from blueprints.checks import blueprint_parse
from blueprints.json5_io import BlueprintSourceError
from builds.system_ini import render_for
from hardware_profiles.models import HardwareProfile
from image_builder import BuildError, ConsoleReporter, EngineOptions, SpecError, build


class Command(BaseCommand):
    help = "Build an appliance image from a genpack.json5 file for one hardware profile."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the blueprint, genpack.json5")
        parser.add_argument("--profile", required=True, help="hardware profile slug")
        parser.add_argument("--out", type=Path, required=True, help="directory for the images")
        parser.add_argument("--workdir", type=Path, help="work directory (default: temporary)")
        parser.add_argument("--keep-workdir", action="store_true")
        parser.add_argument("--quiet", action="store_true", help="show steps only")

    def handle(self, *args: object, **options: object) -> None:
        try:
            parsed = blueprint_parse(options["file"].read_text(encoding="utf-8-sig"))
        except OSError as error:
            raise CommandError(f"cannot read {options['file']}: {error}") from None
        except BlueprintSourceError as error:
            raise CommandError(f"{options['file']}: {error}") from None
        for warning in parsed.warnings:
            self.stderr.write(f"warning: {warning}")
        try:
            profile = HardwareProfile.objects.get(slug=options["profile"])
        except HardwareProfile.DoesNotExist:
            known = ", ".join(HardwareProfile.objects.values_list("slug", flat=True))
            raise CommandError(
                f"no hardware profile {options['profile']!r} (known: {known})"
            ) from None
        try:
            spec = buildspec_for(parsed.data, profile)
        except SpecError as error:
            raise CommandError(str(error)) from None
        settings.GENPACK_WORK_DIR.mkdir(parents=True, exist_ok=True)
        workdir = options["workdir"] or Path(
            tempfile.mkdtemp(prefix="cli-", dir=settings.GENPACK_WORK_DIR)
        )
        if options["workdir"] is None:
            workdir.rmdir()  # the engine creates its own work directory
        engine_options = EngineOptions(
            mirror=settings.GENPACK_DEBIAN_MIRROR,
            apt_cache_dir=settings.GENPACK_APT_CACHE_DIR,
            keep_workdir=options["keep_workdir"],
        )
        try:
            result = build(
                spec,
                workdir=workdir,
                outdir=options["out"],
                options=engine_options,
                reporter=ConsoleReporter(verbose=not options["quiet"]),
                system_ini=render_for(parsed.data, profile),
            )
        except BuildError as error:
            raise CommandError(f"build failed in step {error.step}: {error.message}") from None
        self.stdout.write(self.style.SUCCESS(f"\n{spec.name} for {profile.name}:"))
        for artifact in result.artifacts:
            self.stdout.write(
                f"  {artifact.kind:12} {artifact.size / 2**20:9.1f} MiB  {artifact.path}"
            )

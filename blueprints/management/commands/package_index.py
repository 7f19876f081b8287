import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from blueprints.package_lookup import package_index_targets
from blueprints.tasks import package_index_task
from package_index.store import IndexKey, package_indexes_loaded, packages_index_all


def _missing() -> list[IndexKey]:
    loaded = package_indexes_loaded()
    return [target for target in package_index_targets() if target not in loaded]


class Command(BaseCommand):
    help = (
        "Read the mirror's package indexes (Packages, Contents) for every suite, component and "
        "architecture the enabled hardware profiles use (with the suites' -updates and -security "
        "pockets), or only those named, into the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--suite", help="e.g. bookworm")
        parser.add_argument("--component", help="e.g. main")
        parser.add_argument("--arch", help="e.g. amd64")
        parser.add_argument("--mirror", default=settings.GENPACK_DEBIAN_MIRROR)
        parser.add_argument(
            "--security-mirror",
            default=settings.GENPACK_DEBIAN_SECURITY_MIRROR,
            help="Where the <suite>-security indexes are read (Debian's security archive).",
        )
        parser.add_argument("--force", action="store_true", help="Reload unchanged indexes too.")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Hand the update to a worker instead of running it here (make run does).",
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="Only when some index was never loaded."
        )

    def handle(self, *args: object, **options: object) -> None:
        chatty = int(options.get("verbosity", 1)) >= 1  # make run passes -v0
        if options["if_missing"] and not _missing():
            if chatty:
                self.stdout.write("Package indexes are loaded; nothing to do.")
            return
        if options["queue"]:
            package_index_task.delay()
            if chatty:
                self.stdout.write("Package index update queued; a worker will load it in a minute.")
            return
        started = time.monotonic()
        results = packages_index_all(
            mirror=str(options["mirror"]),
            security_mirror=str(options["security_mirror"]),
            force=bool(options["force"]),
            targets=_targets(options),
        )
        for result in results:
            where = f"{result.suite}/{result.component}/{result.arch}"
            if result.error:
                self.stderr.write(f"{where}: FAILED: {result.error}")
            elif result.unchanged:
                self.stdout.write(f"{where}: unchanged, {result.packages} packages")
            else:
                self.stdout.write(
                    f"{where}: {result.packages} packages, {result.with_units} with systemd "
                    f"units, {result.seconds:.1f} s"
                )
        self.stdout.write(f"{len(results)} indexes in {time.monotonic() - started:.1f} s")
        if any(result.error for result in results):
            raise CommandError("Some indexes could not be read (see above).")


def _targets(options: dict[str, object]) -> list[IndexKey]:
    """The profiles' indexes narrowed by the options; all three options name one directly."""
    suite, component, arch = options["suite"], options["component"], options["arch"]
    if suite and component and arch:
        return [(str(suite), str(component), str(arch))]
    targets = [
        target
        for target in package_index_targets()
        if all(
            want in (None, have)
            for want, have in zip((suite, component, arch), target, strict=True)
        )
    ]
    if not targets:
        raise CommandError("No enabled hardware profile uses such an index.")
    return targets

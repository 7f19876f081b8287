from django.core.management.base import BaseCommand, CommandError

from genpack_site.celery import ping


class Command(BaseCommand):
    help = "Send a task through the broker and wait for a worker to run it."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args: object, timeout: float, **options: object) -> None:
        result = ping.delay("pong")
        try:
            answer = result.get(timeout=timeout)
        except Exception as error:  # Celery raises several types for "no answer"
            raise CommandError(f"No worker answered within {timeout:.0f} s: {error}") from error
        self.stdout.write(f"A worker ran task {result.id}: {answer}")

"""The worker's side of build-host liveness: which build queues it takes, and its heartbeat.

genpack_site/celery.py wires these to Celery's worker signals:
- worker_init, before the consumer starts: `queues_for_this_host` asks image_builder.hostarch
  what this host can really build (narrowed by GENPACK_BUILD_ARCHITECTURES) and stops
  consuming every architecture queue it cannot build. So `--queues celery,amd64,arm64,boottest`
  (make run's Procfile) on an x86 host without working qemu-user never claims an arm64 build.
  Any other queue (celery, boottest: the boot tests, which need QEMU, not a build chroot) is
  left as it was asked for.
- worker_ready: a thread announces the host (builds/hosts.py) and beats every
  GENPACK_BUILD_HOST_HEARTBEAT_SECONDS. A thread, because a solo pool's main thread is busy
  for the whole of a build. No Celery broadcast or remote control: the embedded broker
  (SQLite) has none.
- worker_shutdown: the thread stops and marks the host stopped.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections

from builds.hosts import build_host_announce, build_host_beat, build_host_stop
from hardware_profiles.models import HardwareProfile
from image_builder.hostarch import buildable_architectures

logger = logging.getLogger(__name__)
# Builds are sent with queue=profile.arch (builds/services.py): one queue per architecture.
ARCH_QUEUES = tuple(HardwareProfile.Arch.values)


def host_architectures() -> list[str]:
    """What this host can build, within GENPACK_BUILD_ARCHITECTURES when that is set."""
    allowed = settings.GENPACK_BUILD_ARCHITECTURES
    return [arch for arch in buildable_architectures() if not allowed or arch in allowed]


def queues_for_this_host(queues, architectures: list[str]) -> list[str]:
    """Stop consuming the architecture queues of `queues` (Celery's app.amqp.queues) that
    this host cannot build; returns the queue names it still consumes."""
    dropped = [
        name for name in queues.consume_from if name in ARCH_QUEUES and name not in architectures
    ]
    queues.deselect(dropped)
    for name in dropped:
        logger.warning(
            "not consuming the %s queue: this host cannot build %s images (it builds: %s)",
            name,
            name,
            ", ".join(architectures) or "nothing",
        )
    kept = sorted(queues.consume_from)
    if not any(name in ARCH_QUEUES for name in kept):
        logger.warning("this worker takes no builds: it consumes %s", ", ".join(kept) or "nothing")
    return kept


class HostHeartbeat:
    """Announces this worker, then beats its row until stopped; the database may come and
    go meanwhile (a failed beat is logged and tried again at the next one)."""

    def __init__(self, name: str, architectures: list[str], queues: list[str]) -> None:
        self.name, self.architectures, self.queues = name, architectures, queues
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="build-host-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _announce(self) -> None:
        build_host_announce(name=self.name, architectures=self.architectures, queues=self.queues)

    def _beat(self, announced: bool) -> bool:
        try:
            if not announced or not build_host_beat(name=self.name):
                self._announce()
            return True
        except Exception:  # the database is down or restarting: the next beat tries again
            logger.warning("build host %s: heartbeat failed", self.name, exc_info=True)
            return False
        finally:
            connections.close_all()  # this thread's own connections; none outlives a beat

    def _run(self) -> None:
        announced = self._beat(announced=False)
        while not self._stopping.wait(settings.GENPACK_BUILD_HOST_HEARTBEAT_SECONDS):
            announced = self._beat(announced)
        try:
            build_host_stop(name=self.name)
        except Exception:
            logger.warning("build host %s: could not record the stop", self.name, exc_info=True)
        finally:
            connections.close_all()


_heartbeat: HostHeartbeat | None = None


def on_worker_init(sender, **kwargs: object) -> None:
    """Celery's worker_init: choose the queues before the consumer starts reading them."""
    architectures = host_architectures()
    sender.genpack_architectures = architectures
    queues_for_this_host(sender.app.amqp.queues, architectures)
    logger.info("this host builds: %s", ", ".join(architectures) or "nothing")


def on_worker_ready(sender, **kwargs: object) -> None:
    """Celery's worker_ready (`sender` is the consumer): start announcing and beating."""
    global _heartbeat
    architectures = getattr(sender.controller, "genpack_architectures", None)
    if architectures is None:
        architectures = host_architectures()
    queues = sorted(sender.app.amqp.queues.consume_from)
    _heartbeat = HostHeartbeat(sender.hostname, architectures, queues)
    _heartbeat.start()


def on_worker_shutdown(**kwargs: object) -> None:
    global _heartbeat
    if _heartbeat is not None:
        _heartbeat.stop()
        _heartbeat = None

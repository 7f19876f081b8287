"""The image build engine: a frozen BuildSpec becomes a bootable appliance disk image.

Standard library only (no Django, no database): the worker task calls build() and turns the
result or the BuildError into state changes. Public API:

    build(spec, *, workdir, outdir, options, reporter, system_ini=None) -> BuildResult
    BuildSpec.from_dict(data).normalise(), .to_dict(), .spec_hash()
    EngineOptions(mirror=None, apt_cache_dir=..., keep_workdir=False, build_id="local")
    Reporter (protocol: step/log/progress), ConsoleReporter, NullReporter
    BuildError(step, message), SpecError
    image_tools.write_system_ini(image, text), image_tools.read_status(image)
"""

from importlib import import_module
from typing import Any

# Loaded on first use (PEP 562): a worker, the web app and the fast test engine import small
# parts such as image_builder.events or .errors, and should not pay for the whole pipeline.
_EXPORTS = {
    "STEPS": "pipeline",
    "BuildResult": "pipeline",
    "build": "pipeline",
    "Artifact": "assemble",
    "BuildError": "errors",
    "SpecError": "errors",
    "EngineOptions": "options",
    "default_mirror": "options",
    "ConsoleReporter": "report",
    "NullReporter": "report",
    "Reporter": "report",
    "BuildSpec": "spec",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value

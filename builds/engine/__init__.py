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

from .assemble import Artifact
from .errors import BuildError, SpecError
from .options import EngineOptions, default_mirror
from .pipeline import STEPS, BuildResult, build
from .report import ConsoleReporter, NullReporter, Reporter
from .spec import BuildSpec

__all__ = [
    "STEPS",
    "Artifact",
    "BuildError",
    "BuildResult",
    "BuildSpec",
    "ConsoleReporter",
    "EngineOptions",
    "NullReporter",
    "Reporter",
    "SpecError",
    "build",
    "default_mirror",
]

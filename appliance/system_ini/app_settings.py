"""Settings a blueprint declares for its own services, in their own [section] of system.ini."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .checks import _Invalid, _parse_bool, _require_one_line, single_line_problem
from .keys import _KEY_NAME_RE, APP_SETTING_TYPES, SECRET_MASK, _snippet, is_secret_key

_INT_RE = re.compile(r"[+-]?[0-9]+\Z")


@dataclass(frozen=True, repr=False)
class AppSetting:
    """A setting a blueprint declares for its own services, shown in its own ``[section]``.

    ``type`` is one of ``string``, ``int``, ``bool``, ``choice``; ``default`` is coerced to
    that type (a ``ValueError`` explains a default that does not fit, for blueprint forms);
    ``choices`` is required for ``choice``. Section and key are stored lowercase.
    """

    section: str
    key: str
    type: str = "string"
    default: object = None
    help: str = ""
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for label, name in (("section", self.section), ("key", self.key)):
            if not isinstance(name, str) or not _KEY_NAME_RE.match(name):
                raise ValueError(f"setting {label} {name!r}: use letters, digits, _ . or -")
        if self.type not in APP_SETTING_TYPES:
            raise ValueError(f"setting type {self.type!r}: use one of {sorted(APP_SETTING_TYPES)}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"setting {self.section}.{self.key}: a choice needs choices")
        for choice in self.choices:
            # A choice is a value the file may hold, so the same one-line rule applies.
            problem = single_line_problem(str(choice))
            if problem or not str(choice).strip():
                raise ValueError(
                    f"setting {self.section}.{self.key}: choice {_snippet(str(choice))!r} "
                    f"{problem or 'is empty'}"
                )
        # Frozen dataclass: normalise through object.__setattr__ once, at construction.
        object.__setattr__(self, "section", self.section.lower())
        object.__setattr__(self, "key", self.key.lower())
        object.__setattr__(self, "choices", tuple(str(c) for c in self.choices))
        object.__setattr__(self, "default", self._coerced_default())

    def _coerced_default(self) -> object:
        if self.default is None:
            return None
        # Blueprints may store defaults typed (8080, True) or as text ("8080", "yes").
        default = self.default
        if not isinstance(default, (bool, int, str)):
            default = str(default)
        try:
            return self.check(default)
        except _Invalid as exc:
            raise ValueError(f"default of {self.name}: {exc}") from None

    def __repr__(self) -> str:
        default = SECRET_MASK if is_secret_key(self.name) and self.default else self.default
        return (
            f"AppSetting(section={self.section!r}, key={self.key!r}, type={self.type!r}, "
            f"default={default!r}, help={self.help!r}, choices={self.choices!r})"
        )

    @property
    def name(self) -> str:
        """``section.key``: how the setting is named in ``unknown`` and ``rejected``."""
        return f"{self.section}.{self.key}"

    def coerce(self, value: str) -> object:
        """Turn the text from system.ini into this setting's type.

        Raises a ``ValueError`` whose message is the reason shown to the technician.
        """
        shown = SECRET_MASK if is_secret_key(self.name) else f"'{_snippet(value)}'"
        if self.type == "int":
            if not _INT_RE.match(value):
                raise _Invalid(f"{shown} is not a whole number")
            return int(value)
        if self.type == "bool":
            return _parse_bool(value)
        if self.type == "choice":
            for choice in self.choices:
                if choice.lower() == value.lower():
                    return choice
            raise _Invalid(f"{shown} is not one of: {', '.join(self.choices)}")
        return _require_one_line(value)

    def check(self, value: object) -> object:
        """Like :meth:`coerce`, for a value given as data (the web's case) rather than text.

        Text is coerced after the one-line check, without spaces at its edges (as the device
        reads it); a bool or a whole number is taken as it is when the type fits. Raises a
        ``ValueError`` whose message is the reason.
        """
        if isinstance(value, bool):
            if self.type == "bool":
                return value
            value = "yes" if value else "no"
        elif isinstance(value, int):
            if self.type == "int":
                return value
            value = str(value)
        if not isinstance(value, str):
            raise _Invalid("must be text")
        # The device strips what it reads, so spaces at the edges would not survive the file.
        stripped = _require_one_line(value).strip()
        if value and not stripped:
            raise _Invalid("is only spaces")
        return self.coerce(stripped)

"""Reading system.ini: bytes from any editor to text, text to raw keys and values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .keys import (
    _CONTROL_RE,
    _KEY_NAME_RE,
    _SECTION_RE,
    _SETTING_SHAPE_RE,
    _SSH_KEY_TYPES,
    _masked,
    _masked_sections,
    _snippet,
)

# A binary file fed to the parser would otherwise produce thousands of identical complaints.
_MAX_PROBLEMS = 50


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _decode(raw: bytes) -> tuple[str, bytes, str]:
    """Decode *raw* and say how it was encoded: ``(text, bom, codec)``; never raises.

    Without a BOM we try UTF-8, then Windows-1252 (what Notepad's "ANSI" means on a Western
    Windows), then latin-1, which accepts any byte sequence.
    """
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            # A BOM followed by broken data (a truncated copy): keep what can be read.
            return raw[len(bom) :].decode(codec, errors="replace"), bom, codec
    for codec in ("utf-8", "cp1252"):
        try:
            return raw.decode(codec), b"", codec
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), b"", "latin-1"


def _normalise_newlines(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def decode_ini_bytes(raw: bytes) -> str:
    """Turn the bytes of a system.ini into text with ``\\n`` line ends; never raises.

    Accepts UTF-8 with or without BOM, UTF-16 LE/BE with BOM (Notepad's "Unicode"),
    falls back to Windows-1252 / latin-1, and maps CRLF (Windows), CR (old Mac) and LF to LF.
    """
    return _normalise_newlines(_decode(raw)[0])


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ParsedIni:
    """The raw key/value content of a system.ini, before any value is checked.

    ``top`` holds keys written before any ``[section]``; ``sections`` the app sections, by
    lowercase name. Key names are lowercased. ``lines`` maps ``(section, key)`` to the line the
    key starts on, with ``""`` as the section of top-level keys. ``problems`` lists lines that
    were ignored or overridden, with their line numbers.
    """

    top: dict[str, str] = field(default_factory=dict)
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"ParsedIni(top={_masked(self.top)!r}, "
            f"sections={_masked_sections(self.sections)!r}, "
            f"lines={self.lines!r}, problems={self.problems!r})"
        )


def _unquote(value: str) -> str:
    """Strip one pair of double quotes: the way to keep leading/trailing spaces in a value."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def _starts_with_ssh_key_type(stripped: str) -> bool:
    return stripped.split(None, 1)[0] in _SSH_KEY_TYPES


class _IniReader:
    """Line-by-line state machine behind :func:`parse_ini`."""

    def __init__(self) -> None:
        self.top: dict[str, str] = {}
        self.sections: dict[str, dict[str, str]] = {}
        self.lines: dict[tuple[str, str], int] = {}
        self.problems: list[str] = []
        self.extra_problems = 0
        # None = inside a broken section header: its keys are ignored, not misfiled.
        self.section: str | None = ""
        self.broken_header_line = 0
        # The key that a continuation line would extend; None after a blank line or header.
        self.current: tuple[str, str] | None = None
        # For rewrite_setting(): last physical line of each value, first header line.
        self.ends: dict[tuple[str, str], int] = {}
        self.first_section_line: int | None = None

    def problem(self, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.extra_problems += 1

    def feed(self, number: int, line: str) -> None:
        stripped = line.strip()
        if not stripped:
            self.current = None
            return
        if stripped[0] in ";#":
            # A comment does not end a value, so a note may sit between two SSH keys.
            return
        if self.is_continuation(line, stripped):
            self.extend_value(number, stripped)
        elif stripped[0] == "[":
            self.start_section(number, stripped)
        else:
            self.read_setting(number, line, stripped)

    def is_continuation(self, line: str, stripped: str) -> bool:
        if self.current is None or _SETTING_SHAPE_RE.match(stripped):
            return False
        if _SECTION_RE.match(stripped):
            return False
        # An unindented SSH key right under ssh_pubkey is what people write; accept it.
        under_ssh = self.current[1] == "ssh_pubkey" and _starts_with_ssh_key_type(stripped)
        return line[0] in " \t" or under_ssh

    def extend_value(self, number: int, stripped: str) -> None:
        assert self.current is not None
        self.ends[self.current] = number
        section, key = self.current
        target = self.top if section == "" else self.sections[section]
        piece = _unquote(stripped)
        target[key] = f"{target[key]}\n{piece}" if target[key] else piece

    def start_section(self, number: int, stripped: str) -> None:
        self.current = None
        if self.first_section_line is None:
            self.first_section_line = number
        match = _SECTION_RE.match(stripped)
        name = match.group(1).strip().lower() if match else ""
        if not name or _CONTROL_RE.search(name):
            self.problem(
                f"line {number}: not a valid [section] header; the lines below it are ignored"
            )
            self.section = None
            self.broken_header_line = number
            return
        self.section = name
        self.sections.setdefault(name, {})

    def read_setting(self, number: int, line: str, stripped: str) -> None:
        self.current = None
        # Base64 padding puts "=" in some SSH keys: recognise them before splitting at "=".
        if "=" not in stripped or _starts_with_ssh_key_type(stripped):
            self.problem(f"line {number}: {self.why_not_a_setting(line, stripped)}; line ignored")
            return
        if self.section is None:
            self.problem(
                f"line {number}: ignored because the section header on line "
                f"{self.broken_header_line} is not valid"
            )
            return
        raw_name, _, raw_value = stripped.partition("=")
        name = raw_name.strip()
        if not _KEY_NAME_RE.match(name):
            self.problem(
                f"line {number}: '{_snippet(name)}' is not a valid setting name; line ignored"
            )
            return
        self.store(number, name.lower(), _unquote(raw_value.strip()))

    @staticmethod
    def why_not_a_setting(line: str, stripped: str) -> str:
        if _starts_with_ssh_key_type(stripped):
            return "looks like an SSH key but is not right under 'ssh_pubkey ='"
        if line[0] in " \t":
            return "starts with a space but there is no setting right above it to continue"
        return "not a setting (expected name = value)"

    def store(self, number: int, key: str, value: str) -> None:
        section = self.section or ""
        target = self.top if section == "" else self.sections[section]
        first_line = self.lines.get((section, key))
        if first_line is not None:
            where = f"[{section}] " if section else ""
            self.problem(
                f"line {number}: {where}{key} is set again (also on line {first_line}); "
                "the last one counts"
            )
        target[key] = value
        self.lines[(section, key)] = number
        self.ends[(section, key)] = number
        self.current = (section, key)

    def result(self) -> ParsedIni:
        problems = list(self.problems)
        if self.extra_problems:
            problems.append(f"... and {self.extra_problems} more lines with problems")
        return ParsedIni(self.top, self.sections, self.lines, problems)


def parse_ini(raw: bytes | str) -> ParsedIni:
    """Parse system.ini content (bytes as read from the card, or text); never raises.

    Rules (shared by web and device): ``;``/``#`` comment lines; ``name = value`` with any
    spacing and key names in any case (lowercased); values may be wrapped in double quotes;
    a line starting with whitespace continues the previous value (joined with ``\\n``);
    a blank line ends a value; the last of duplicate keys wins. No inline comments: ``;`` and
    ``#`` are legal inside Wi-Fi passwords.
    """
    text = decode_ini_bytes(raw) if isinstance(raw, bytes) else _normalise_newlines(raw)
    return _read_lines(text.split("\n")).result()


def _read_lines(lines: Iterable[str]) -> _IniReader:
    reader = _IniReader()
    for number, line in enumerate(lines, start=1):
        reader.feed(number, line)
    return reader

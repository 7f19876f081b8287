"""Secrets on blueprint pages: shown as placeholders that keep the stored value.

Which values are secret is defined once, in image_builder/secrets.py (users' password hashes,
secret system.ini keys such as wifi_key, defaults of settings secret by name). Here the JSON5
text a product manager sees (detail page, source editor, export) gets a unique placeholder in
place of each secret, at that value's own place in the text, so comments and layout stay; when
the text is saved back, each placeholder is replaced by the value stored at the same place.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import pyjson5

from blueprints.json5_io import BlueprintSourceError, json5_load, line_of_key
from image_builder.secrets import MASK, Secret, is_secret_key, secrets_in

logger = logging.getLogger(__name__)

PLACEHOLDER_RE = re.compile(r"\[secret kept: ([^\[\]]+)\]\Z")
# JSON5 whitespace and line terminators (ECMAScript 5.1, 7.2 / 7.3).
_WHITESPACE = frozenset("\t\n\v\f\r \xa0\ufeff\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}
_LINE_ENDS = "\n\r\u2028\u2029"
_VALUE_ENDS = frozenset(",]}/:") | _WHITESPACE
# A whole quoted string, escapes (line continuations too) included: one regex, not a loop.
_STRING_RES = {
    '"': re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL),
    "'": re.compile(r"'(?:[^'\\]|\\.)*'", re.DOTALL),
}

Path = tuple[str | int, ...]


def placeholder(label: str) -> str:
    return f"[secret kept: {label}]"


@dataclass(frozen=True)
class Token:
    """A scalar value in JSON5 text: where it is in the data and in the text."""

    path: Path
    start: int
    end: int
    raw: str

    @property
    def text_value(self) -> str | None:
        """The string's value, for quoted strings; None for numbers and literals."""
        if self.raw[:1] not in ("'", '"'):
            return None
        return pyjson5.decode(self.raw)  # the json5 library needs 1 s per 100 KiB string


class _Scanner:
    """Walks JSON5 text that json5 has accepted, recording each scalar's path and span and
    each comment's span. Not a validator: it trusts the parser for that."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []
        self.comments: list[tuple[int, int]] = []

    def run(self) -> _Scanner:
        self._value(())
        self._skip()
        return self

    def _fail(self) -> BlueprintSourceError:
        line = self.text.count("\n", 0, self.pos) + 1
        return BlueprintSourceError("Not valid JSON5 here.", line=line)

    def _skip(self) -> None:
        text, size = self.text, len(self.text)
        while self.pos < size:
            char = text[self.pos]
            if char in _WHITESPACE:
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = self.pos + 2
                while end < size and text[end] not in _LINE_ENDS:
                    end += 1
                self.comments.append((self.pos, end))
                self.pos = end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self._fail()
                self.comments.append((self.pos, end + 2))
                self.pos = end + 2
            else:
                return

    def _string(self) -> str:
        start = self.pos
        match = _STRING_RES[self.text[start]].match(self.text, start)
        if not match:
            raise self._fail()
        self.pos = match.end()
        return match.group()

    def _bare(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _VALUE_ENDS:
            self.pos += 1
        if self.pos == start:
            raise self._fail()
        return self.text[start : self.pos]

    def _key(self) -> str:
        raw = self._string() if self.text[self.pos] in "'\"" else self._bare()
        if raw[0] in "'\"":
            return pyjson5.decode(raw)
        return next(iter(pyjson5.decode("{" + raw + ": 0}"))) if "\\" in raw else raw

    def _expect(self, char: str) -> None:
        self._skip()
        if not self.text.startswith(char, self.pos):
            raise self._fail()
        self.pos += 1

    def _value(self, path: Path) -> None:
        self._skip()
        if self.pos >= len(self.text):
            raise self._fail()
        char = self.text[self.pos]
        if char == "{":
            self._members(path, "}", keyed=True)
        elif char == "[":
            self._members(path, "]", keyed=False)
        else:
            start = self.pos
            raw = self._string() if char in "'\"" else self._bare()
            self.tokens.append(Token(path, start, self.pos, raw))

    def _members(self, path: Path, close: str, *, keyed: bool) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip()
            if self.text.startswith(close, self.pos):
                self.pos += 1
                return
            if keyed:
                key: str | int = self._key()
                self._expect(":")
            else:
                key, index = index, index + 1
            self._value((*path, key))
            self._skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif not self.text.startswith(close, self.pos):
                raise self._fail()


def _scan(source: str) -> _Scanner:
    return _Scanner(source).run()


def _literal(value: Any, quote: str = '"') -> str:
    """`value` as a JSON5 literal; strings in the quote style of the text they replace."""
    text = json.dumps(value, ensure_ascii=False)
    if quote == "'" and isinstance(value, str):
        return "'" + text[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
    return text


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def source_masked(source: str, data: dict[str, Any]) -> str:
    """`source` with a placeholder in place of each secret of `data` (its parsed form).

    A secret value someone also wrote into a comment is masked there too (comments are not
    data; the placeholder does not apply to them)."""
    secrets = secrets_in(data)
    if not secrets:
        return source
    try:
        scanner = _scan(source)
    except (BlueprintSourceError, ValueError):
        # Stored text is valid JSON5; should it ever not be, show nothing of it rather than
        # the secrets.
        return "// The blueprint text cannot be shown with its secrets masked.\n"
    labels = {secret.path: secret.label for secret in secrets}
    spans = [
        (token.start, token.end, _literal(placeholder(labels[token.path]), token.raw[0]))
        for token in scanner.tokens
        if token.path in labels
    ]
    values = sorted(
        {str(s.value) for s in secrets if len(str(s.value)) >= 4}, key=len, reverse=True
    )
    for start, end in scanner.comments:
        comment = source[start:end]
        for value in values:
            comment = comment.replace(value, MASK)
        if comment != source[start:end]:
            spans.append((start, end, comment))
    return _replace(source, spans)


def _line(source: str, position: int) -> int:
    return source.count("\n", 0, position) + 1


def _where(path: Path) -> str:
    return ".".join(str(part) for part in path)


def source_with_secrets(source: str, stored: dict[str, Any]) -> str:
    """Put back the secrets of `stored` (the revision being edited) where `source` has their
    placeholders. A placeholder must stand where its secret was (the same user's hash, the
    same setting's default...) and that secret must be stored; otherwise a clear error.

    Text that is not valid JSON5 is returned unchanged: the parser then says what is wrong.
    """
    if "[secret kept: " not in source:
        return source
    try:
        submitted = json5_load(source)  # fast and bounded: the text may be 1 MiB
        scanner = _scan(source)
    except (
        BlueprintSourceError,
        ValueError,
        RecursionError,
        OverflowError,
        pyjson5.Json5Exception,
    ):
        return source
    here = {secret.path: secret.label for secret in secrets_in(submitted)}
    kept = {secret.label: secret.value for secret in secrets_in(stored)}
    spans = []
    for token in scanner.tokens:
        value = token.text_value
        match = PLACEHOLDER_RE.match(value) if isinstance(value, str) else None
        if not match:
            continue
        label, line = match.group(1), _line(source, token.start)
        if here.get(token.path) != label:
            raise BlueprintSourceError(
                f"The placeholder for the secret “{label}” stands at “{_where(token.path)}”. "
                "A placeholder keeps a secret only in its own place; type the secret there "
                "instead.",
                line=line,
            )
        if label not in kept:
            raise BlueprintSourceError(
                f"There is no saved secret “{label}” to keep: type the value in place of "
                "the placeholder.",
                line=line,
            )
        spans.append((token.start, token.end, _literal(kept[label], token.raw[0])))
    return _replace(source, spans)


def _placeholders(value: Any, path: Path = ()) -> list[tuple[Path, str]]:
    if isinstance(value, str):
        match = PLACEHOLDER_RE.match(value)
        return [(path, match.group(1))] if match else []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [found for key, item in items for found in _placeholders(item, (*path, key))]


def placeholders_refuse(data: Any, source: str = "") -> None:
    """A blueprint still holding placeholders (an export made without secrets) is refused:
    saving it would store the placeholder text as the password or Wi-Fi key."""
    found = _placeholders(data)
    if not found:
        return
    path, label = found[0]
    last_key = next((part for part in reversed(path) if isinstance(part, str)), "")
    raise BlueprintSourceError(
        f"“{label}” holds the placeholder “{placeholder(label)}” of an export made without "
        "secrets. Export the blueprint again with “include secrets”, or set this secret "
        "again (type the value in its place).",
        line=line_of_key(source, last_key) if source and last_key else None,
    )


def settings_masked(settings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Settings for a table: secret defaults shown as a mask."""
    return [
        {**item, "default": MASK}
        if is_secret_key(str(item.get("key", ""))) and item.get("default") not in (None, "")
        else item
        for item in settings
        if isinstance(item, dict)
    ]


_INI_LINE_RE = re.compile(r"^(\s*)([A-Za-z0-9_][A-Za-z0-9_.\-]*)(\s*=\s*)(.+)$")


def ini_masked(text: str) -> str:
    """A rendered system.ini with the values of secret keys masked (a preview, not a file)."""
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _INI_LINE_RE.match(body)
        if match and is_secret_key(match.group(2)):
            body = match.group(1) + match.group(2) + match.group(3) + MASK
        lines.append(body + line[len(line.rstrip("\r\n")) :])
    return "".join(lines)


def export_source(
    *, revision: Any, include_secrets: bool, user: Any, address: str | None = None
) -> str:
    """The JSON5 an export downloads: placeholders, or, when asked for, the real secrets
    (logged: who, which blueprint and revision)."""
    if not include_secrets:
        return source_masked(revision.source, revision.data)
    logger.warning(
        "blueprint export WITH SECRETS: user=%s blueprint=%s revision=%s address=%s",
        getattr(user, "username", user),
        revision.blueprint.name,
        revision.number,
        address or "-",
    )
    return revision.source


__all__ = [
    "PLACEHOLDER_RE",
    "Secret",
    "export_source",
    "ini_masked",
    "placeholder",
    "placeholders_refuse",
    "settings_masked",
    "source_masked",
    "source_with_secrets",
]

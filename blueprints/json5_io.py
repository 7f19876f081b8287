"""The one module that reads and writes blueprint JSON5 (genpack.json5 field names).

Everything that turns text into a blueprint goes through `blueprint_parse`, which raises a
single error type, `BlueprintSourceError`, carrying the line number a person should look at.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from typing import Any

import json5
import pyjson5

from blueprints.errors import BlueprintSourceError
from blueprints.limits import (
    MAX_DEPTH,
    MAX_INTEGER,
    PARSE_CPU_SECONDS,
    source_size_check,
    value_count_check,
)

_ERROR_POSITION = re.compile(r"<string>:(\d+) (.*?)(?: at column (\d+))?$")


def line_of_key(source: str, key: str) -> int | None:
    """The line where `key:` first appears in the JSON5 text (for error messages).

    A key at the start of a line wins (top-level fields are written that way); otherwise the
    first `key:` anywhere, as in `system_ini: {ip_address: ...}`.
    """
    if not source:
        return None
    quoted = rf"""["']?{re.escape(key)}["']?\s*:"""
    match = re.search(rf"^\s*{quoted}", source, re.MULTILINE) or re.search(
        rf"(?<![\w-]){quoted}", source
    )
    return source.count("\n", 0, match.start()) + 1 if match else None


def line_of_item(source: str, key: str, item: str) -> int | None:
    """The line of the text `item` in a list under `key` (a package in `packages: [...]`), or
    of the key itself when the item cannot be found; the first after the key wins."""
    if not source:
        return None
    key_line = line_of_key(source, key)
    start = 0
    for _ in range((key_line or 1) - 1):
        start = source.index("\n", start) + 1
    quoted = re.compile(rf"""(["']){re.escape(item)}\1""")
    match = quoted.search(source, start) or quoted.search(source)
    return source.count("\n", 0, match.start()) + 1 if match else key_line


# --- Parsing -------------------------------------------------------------------------------
# The json5 library is the reference for JSON5 and words the errors people know, but it parses
# about 0.1 MiB per second of CPU (a legal 1 MiB blueprint: 9 s). pyjson5, a C (Cython) parser,
# reads the same 1 MiB in 5 ms and is linear in its input, so every parse goes through it, and
# MAX_SOURCE_BYTES bounds the work up front (the worst 1 MiB measured, a list of 350,000 empty
# objects: 0.07 s). A thread cannot be interrupted, so the slow library runs only to word the
# message for text pyjson5 refused, in a child process that the kernel stops after
# PARSE_CPU_SECONDS of CPU (RLIMIT_CPU); past that, pyjson5's own position is the message.
# pyjson5 keeps the last of duplicate keys and says nothing of NaN or "\u0000", so `_scan`
# walks the tokens of accepted text to refuse those with their line.

_JSON5_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu} + 1))
resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
import json5
text = sys.stdin.buffer.read().decode("utf-8", "surrogatepass")
try:
    json5.loads(text)
except BaseException as error:
    message = str(error) if isinstance(error, ValueError) else type(error).__name__
    sys.stdout.buffer.write(("error\\n" + message).encode("utf-8", "backslashreplace"))
else:
    sys.stdout.buffer.write(b"ok\\n")
"""
_CHILD_MEMORY = 1024 * 1024 * 1024
_PYJSON5_NEAR = re.compile(r"(?: starting)? near (\d+)")
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_RISKY_ESCAPE = re.compile(r"\\[0xu]")  # the escapes that can spell NUL or a surrogate
_SURROGATE_MESSAGE = (
    "Text contains a lone surrogate (an escape such as \\ud800 without its pair), which is "
    "not a character; write the character itself."
)
_TOKEN = re.compile(
    r"""(?P<skip>(?:[\s\ufeff]+|//[^\n\r\u2028\u2029]*|/\*.*?\*/)+)
    |(?P<string>"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')
    |(?P<punct>[{}\[\]:,])
    |(?P<word>[^\s\ufeff{}\[\]:,"'/]+)""",
    re.VERBOSE | re.DOTALL,
)


def _line(source: str, position: int) -> int:
    return source.count("\n", 0, position) + 1


def _position_error(source: str, message: str, position: int) -> BlueprintSourceError:
    line = _line(source, position)
    column = position - source.rfind("\n", 0, position)
    return BlueprintSourceError(message, line=line, column=column)


def _json5_message(source: str) -> str | None:
    """The json5 library's error for `source`, "" if it accepts it, None if it ran out of CPU."""

    code = _JSON5_CHILD.format(cpu=PARSE_CPU_SECONDS, memory=_CHILD_MEMORY)
    try:
        child = subprocess.run(
            [sys.executable, "-I", "-c", code],
            input=source.encode("utf-8", "surrogatepass"),
            capture_output=True,
            timeout=PARSE_CPU_SECONDS * 5,  # wall clock, for a machine that is very busy
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    kind, _, message = child.stdout.decode("utf-8", "replace").partition("\n")
    if kind == "ok":
        return ""
    return message if kind == "error" and child.returncode == 0 else None


def _syntax_error(source: str, error: Exception) -> BlueprintSourceError:
    message = str(error.args[0] if error.args else error)
    near = _PYJSON5_NEAR.search(message)
    position = max(0, int(near.group(1)) - 1) if near else 0
    if isinstance(error, pyjson5.Json5NestingTooDeep):
        return _position_error(
            source, f"The blueprint is nested more than {MAX_DEPTH} levels deep.", position
        )
    wording = _json5_message(source)
    match = _ERROR_POSITION.match(wording or "")
    if match:
        line, what, column = match.groups()
        return BlueprintSourceError(
            f"{what} — not valid JSON5 here.",
            line=int(line),
            column=int(column) if column else None,
        )
    if wording == "":  # json5 reads it: pyjson5 refused a value json5 allows, such as "\ud800"
        problem = _scan(source)
        if problem:
            return problem
    if wording:
        return BlueprintSourceError(f"Not valid JSON5: {wording}")
    readable = _PYJSON5_NEAR.sub("", message)
    readable = re.sub(r"b'(\w+)'", r"\1", readable)
    readable = re.sub(r"U\+([0-9A-Fa-f]{4,6})", lambda m: repr(chr(int(m[1], 16))), readable)
    return _position_error(source, f"{readable} — not valid JSON5 here.", position)


def _text_problem(text: str) -> str | None:
    """Why a string cannot be stored (PostgreSQL's text and jsonb refuse NUL and surrogates)."""
    bad = _BAD_CHARACTER.search(text)
    if bad is None:
        return None
    if bad.group() == "\x00":
        return "Text cannot contain the NUL character (\\u0000)."
    return _SURROGATE_MESSAGE


def _number_problem(word: str) -> str | None:

    bare = word.lstrip("+-")
    if bare in ("NaN", "Infinity"):
        return f"{word} cannot be stored; write a finite number, or text in quotes."
    if not bare[:1].isdigit() and not bare.startswith("."):
        return None  # true, false, null, or an identifier used as a key
    lower = bare.lower()
    if lower.startswith("0x"):
        too_big = len(lower) > 18 and int(lower, 16) > MAX_INTEGER
    elif "." in lower or "e" in lower:
        too_big = math.isinf(float(lower))
    else:
        too_big = len(lower) > 19 or int(lower) > MAX_INTEGER
    return f"The number {word[:30]} is too large to store." if too_big else None


def _key_or_string(token: str) -> str:
    """The text a string or identifier token stands for (escapes decoded by pyjson5)."""
    quoted = token[:1] in "\"'"
    if "\\" not in token:
        return token[1:-1] if quoted else token
    if quoted:
        return pyjson5.decode(token)
    return next(iter(pyjson5.decode("{" + token + ":0}")))  # an identifier such as \u0061


def _scan(source: str) -> BlueprintSourceError | None:
    """The first duplicate key or unstorable value of JSON5 text that parses, with its line."""
    stack: list[set[str] | None] = []  # per open object the keys seen so far; None per list
    expect_key = False
    position = 0
    while position < len(source):
        token = _TOKEN.match(source, position)
        if token is None:
            return None  # not text pyjson5 accepts; nothing more to find here
        kind, text, start, position = token.lastgroup, token.group(), token.start(), token.end()
        if kind == "skip":
            continue
        if kind == "punct":
            if text in "{[":
                stack.append(set() if text == "{" else None)
            elif text in "}]" and stack:
                stack.pop()
            keys = stack[-1] if stack else None
            expect_key = keys is not None and text in "{,"
            continue
        problem = None
        if expect_key or (kind == "string" and _RISKY_ESCAPE.search(text)):
            try:
                value = _key_or_string(text)
            except pyjson5.Json5Exception:
                return _position_error(source, _SURROGATE_MESSAGE, start)
            problem = _text_problem(value)
            keys = stack[-1] if expect_key and stack else None
            if keys is not None:
                if value in keys:
                    problem = (
                        f"Duplicate key “{value}” in the same object; keep only one of them "
                        "(otherwise the last one would silently win)."
                    )
                keys.add(value)
        elif kind == "word":
            problem = _number_problem(text)
        if problem:
            return _position_error(source, problem, start)
    return None


def storable_check(data: Any) -> None:
    """Refuse values the database cannot keep: NaN, infinities, huge integers, NUL, surrogates.

    The parser's `_scan` names the line for text; this guards every other write path too.
    """

    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem:
                    raise BlueprintSourceError(problem)
                pending.append(item)
        elif isinstance(value, list | tuple):
            pending.extend(value)
        elif isinstance(value, str):
            if problem := _text_problem(value):
                raise BlueprintSourceError(problem)
        elif isinstance(value, float) and not math.isfinite(value):
            raise BlueprintSourceError(f"{value} cannot be stored; write a finite number.")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise BlueprintSourceError("A number is too large to store.")


def json5_load(source: str) -> Any:
    """JSON5 text as data, within the limits and storable; BlueprintSourceError otherwise.

    Only the text: what makes it a blueprint is `checks.blueprint_parse`'s job."""

    if not source.strip():
        raise BlueprintSourceError("The blueprint is empty; it needs at least a name.")
    source_size_check(source)
    bad = _BAD_CHARACTER.search(source)
    if bad:
        what = "a NUL character (byte 0)" if bad.group() == "\x00" else "a lone surrogate"
        raise _position_error(source, f"The text contains {what}; is it a text file?", bad.start())
    try:
        data = pyjson5.decode(source, maxdepth=MAX_DEPTH)
    except pyjson5.Json5Exception as error:
        raise _syntax_error(source, error) from None
    except (RecursionError, OverflowError, TypeError, ValueError) as error:
        raise BlueprintSourceError(f"Not valid JSON5 ({type(error).__name__}).") from None
    value_count_check(data)  # bounds the scan that follows
    problem = _scan(source)
    if problem:
        raise problem
    storable_check(data)
    return data


def blueprint_dump(data: dict[str, Any]) -> str:
    """Blueprint data as readable JSON5 that `blueprint_parse` reads back to the same data."""
    return json5.dumps(data, indent=2, quote_keys=False, trailing_commas=True) + "\n"

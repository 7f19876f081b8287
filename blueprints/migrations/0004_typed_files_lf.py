"""Files typed in the editor's files form are stored with LF (issue 12).

Before, a browser sent every line break of the textarea as CRLF (HTML's form submission rule)
and the CR went into the image, where it breaks scripts ("/bin/sh^M: not found") and config.
What the person typed had LF; the CR was a transport artefact, not their text. So this
migration corrects the stored text in place, in every revision that carries it:

- only `files` and `build_files` entries with text `content` whose every line break is CRLF
  (what a textarea sends; mixed or bare line endings cannot come from one and are left alone);
- only text that came from the form: a revision with the form's message for its path ("Set
  file <path>" / "Set build file <path>") holds it; a later revision carrying the same text for
  the same path (another section saved, the JSON5 editor, a restore, an export imported again) is
  the same typed text and is converted too. CRLF written into JSON5 (the source editor,
  import) was written on purpose and stays;
- the revision's `source` is rewritten with it: only those string tokens change (the order,
  the comments and the rest of the text are kept), checked to read back as the new data; should
  it not, the new data is written out as the editor writes it.

In place rather than as new revisions (revisions are otherwise never changed): a new revision
would leave the CR in every older one, and restoring one of those, or building it again, would
ship the broken text once more; history and its diffs would show a whole-file change nobody
made. What was built stays recorded unchanged in each build's frozen `spec`; a revision
rebuilt after this has a new spec hash, so it builds again with LF instead of reusing the old
image.

Not distinguishable afterwards, and converted too: a text file uploaded through the same form
whose every line break was CRLF (uploads now keep their bytes; re-upload such a file). No way
back: the CRs carried no meaning.
"""

import re

from django.db import migrations

FORM_MESSAGES = {"files": "Set file {}", "build_files": "Set build file {}"}
# blueprints/json5_io.py's tokens at the time of this migration (frozen: it may change later).
TOKEN = re.compile(
    r"""(?P<skip>(?:[\s\ufeff]+|//[^\n\r\u2028\u2029]*|/\*.*?\*/)+)
    |(?P<string>"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')
    |(?P<punct>[{}\[\]:,])
    |(?P<word>[^\s\ufeff{}\[\]:,"'/]+)""",
    re.VERBOSE | re.DOTALL,
)


def textarea_crlf(content):
    """Line breaks as a textarea sends them: at least one, every one CRLF."""
    if not isinstance(content, str) or "\r\n" not in content:
        return False
    rest = content.replace("\r\n", "")
    return "\r" not in rest and "\n" not in rest


def lf(text):
    return text.replace("\r\n", "\n")


def form_message(key, path):
    """The message the files form stored (services._revision_add's cleaning and length)."""
    return re.sub("[\x00\ud800-\udfff]", "\ufffd", FORM_MESSAGES[key].format(path))[:200]


def strings_replaced(source, converted):
    """`source` with each string token that stands for a text in `converted` written as LF."""
    import json5
    import pyjson5

    parts, position = [], 0
    while position < len(source):
        token = TOKEN.match(source, position)
        if token is None:
            return None
        text, position = token.group(), token.end()
        if token.lastgroup == "string":
            value = pyjson5.decode(text) if "\\" in text else text[1:-1]
            if value in converted:
                text = json5.dumps(lf(value))
        parts.append(text)
    return "".join(parts)


def source_for(source, data, converted):
    from blueprints.json5_io import blueprint_dump, json5_load

    try:
        replaced = strings_replaced(source, converted)
        if replaced is not None and json5_load(replaced) == data:
            return replaced
    except Exception:  # noqa: BLE001 — any doubt: write the data out instead
        pass
    return blueprint_dump(data)


def converted_revision(revision, typed):
    """The revision's data with its typed CRLF texts as LF, and those texts; `typed` (key,
    path, text) learns the texts this revision's form message marks as typed."""
    data = dict(revision.data)
    converted = set()
    for key in FORM_MESSAGES:
        entries = data.get(key)
        if not isinstance(entries, list):
            continue
        new_entries = []
        for entry in entries:
            content = entry.get("content") if isinstance(entry, dict) else None
            path = entry.get("path") if isinstance(entry, dict) else None
            if isinstance(path, str) and textarea_crlf(content):
                mark = (key, path, content)
                if revision.message == form_message(key, path):
                    typed.add(mark)
                if mark in typed:
                    entry = {**entry, "content": lf(content)}
                    converted.add(content)
            new_entries.append(entry)
        data[key] = new_entries
    return data, converted


def convert(apps, schema_editor):
    Revision = apps.get_model("blueprints", "BlueprintRevision")
    typed = set()  # across blueprints: an exported blueprint imported again carries it
    for revision in Revision.objects.order_by("created_at", "pk").iterator():
        data, converted = converted_revision(revision, typed)
        if not converted:
            continue
        revision.source = source_for(revision.source, data, converted)
        revision.data = data
        revision.save(update_fields=["source", "data"])


class Migration(migrations.Migration):
    dependencies = [("blueprints", "0003_package_index_moved")]

    operations = [migrations.RunPython(convert, migrations.RunPython.noop)]

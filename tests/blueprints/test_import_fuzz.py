"""JSON5 import fuzzed on PostgreSQL: whatever arrives, a page with a message, never a 500;
and any valid blueprint still imports, exactly."""

from __future__ import annotations

import json
import os
import string

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprints.json5_io import blueprint_dump
from blueprints.models import Blueprint

pytestmark = pytest.mark.django_db

FIELDS = [
    "name",
    "packages",
    "services",
    "users",
    "groups",
    "files",
    "settings",
    "system_ini",
    "targets",
    "arch",
    "variants",
    "compression",
    "description",
    "use",
    "bogus",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
blueprint_like = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8).map(json.dumps)


def _examples(count: int) -> settings:
    return settings(
        max_examples=count * int(os.environ.get("GENPACK_FUZZ_SCALE", "1")),  # more: soak
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _import(client: Client, text: str | None = None, upload: bytes | None = None) -> None:
    data = {"source": text} if upload is None else {"upload": SimpleUploadedFile("x", upload)}
    response = client.post("/blueprints/import/", data)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        html = response.content.decode()
        # An error, or (a blueprint of that name exists already) the changes it would make.
        assert "errorlist" in html or 'data-testid="import-preview"' in html, html[:500]


@_examples(60)
@given(text=st.text(max_size=300))
def test_any_text_gets_a_message(product_manager: Client, text: str) -> None:
    _import(product_manager, text)


@_examples(60)
@given(text=blueprint_like)
def test_any_blueprint_shaped_object_gets_a_message(product_manager: Client, text: str) -> None:
    _import(product_manager, text)


@_examples(20)
@given(depth=st.integers(min_value=1, max_value=5000))
def test_deep_nesting_gets_a_message(product_manager: Client, depth: int) -> None:
    _import(product_manager, '{name: "x", arch: ' + "[" * depth + "]" * depth + "}")


# JSON5 text with what the database cannot keep and what parsers silently accept.
ODD_SCALARS = st.sampled_from(
    [
        "NaN",
        "-NaN",
        "Infinity",
        "-Infinity",
        "+Infinity",
        "1e999",
        "-1e999",
        "123456789012345678901234567890",
        "0xFFFFFFFFFFFFFFFFFFFF",
        "1" * 5000,
        '"\\u0000"',
        '"a\\0"',
        '"\\x00"',
        '"\\ud800"',
        '"\\udfff\\ud800"',
        '"\\ud83d\\ude00"',
        "'single'",
        '"line\\\ncontinued"',
        "true",
        "null",
        ".5",
        "0x1F",
    ]
)
KEYS = st.sampled_from([*FIELDS, "path", "content", "dns", '"name"', "'name'", "\\u006eame"])


def _json5(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(KEYS, children).map(lambda kv: f"{kv[0]}: {kv[1]}")
    return (
        st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + ",]")
        | st.lists(pair, max_size=5).map(lambda pairs: "{" + ",\n".join(pairs) + "}")
        | st.lists(pair, min_size=1, max_size=3).map(  # a duplicate key, at times far apart
            lambda pairs: "{" + ",\n".join([*pairs, pairs[0]]) + "}"
        )
    )


odd_json5 = st.recursive(
    ODD_SCALARS | st.text(max_size=10).map(json.dumps), _json5, max_leaves=10
).map(lambda body: body if body.startswith("{") else '{name: "odd", use: ' + body + "}")


@_examples(80)
@given(text=odd_json5)
def test_json5_with_nan_surrogates_nul_huge_numbers_and_duplicates_gets_a_message(
    product_manager: Client, text: str
) -> None:
    _import(product_manager, text)


@_examples(40)
@given(
    raw=st.binary(max_size=200)
    | st.sampled_from(["latin-1", "utf-16", "utf-16-le", "utf-32", "cp1252"]).map(
        lambda codec: '{name: "grüße", description: "é"}'.encode(codec)
    )
    | st.binary(max_size=50).map(lambda junk: b'{name: "x", description: "' + junk + b'"}')
)
def test_any_uploaded_bytes_get_a_message(product_manager: Client, raw: bytes) -> None:
    _import(product_manager, upload=raw)


# Valid blueprints: they must import, and read back as the same data.
safe_text = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\x00") | st.just("\n"),
    max_size=40,
)
package_names = st.from_regex(r"[a-z0-9][a-z0-9+.-]{1,20}", fullmatch=True)
file_entries = st.builds(
    lambda name, mode, content: {"path": f"/opt/fuzz/{name}", "mode": mode, "content": content},
    st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True),
    st.sampled_from(["0644", "0600", "0755"]),
    safe_text,
)
valid_blueprints = st.fixed_dictionaries(
    {"name": st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)},
    optional={
        "description": safe_text,
        "version": st.text(string.ascii_letters + string.digits + ".-", max_size=10),
        "packages": st.lists(package_names, max_size=5, unique=True),
        "services": st.lists(
            st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(service|timer|socket)", fullmatch=True),
            max_size=3,
            unique=True,
        ),
        "groups": st.lists(
            st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True), max_size=3, unique=True
        ),
        "files": st.lists(file_entries, max_size=3, unique_by=lambda f: f["path"]),
        "compression": st.sampled_from(["xz", "gzip"]),
        "use": st.dictionaries(
            st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=5),
            safe_text,
            max_size=2,
        ),
    },
)


@_examples(30)
@given(data=valid_blueprints)
def test_any_valid_blueprint_imports_and_reads_back_the_same(
    product_manager: Client, data: dict
) -> None:
    Blueprint.objects.filter(name=data["name"]).delete()
    response = product_manager.post("/blueprints/import/", {"source": blueprint_dump(data)})
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Blueprint.objects.get(name=data["name"]).latest_revision.data == data

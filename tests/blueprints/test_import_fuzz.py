"""JSON5 import fuzzed: whatever arrives, the answer is a page with a message, never a 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _import(client: Client, text: str) -> None:
    response = client.post("/blueprints/import/", {"source": text})
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        html = response.content.decode()
        assert 'class="errorlist' in html or "errorlist" in html, html[:500]


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_gets_a_message(product_manager: Client, text: str) -> None:
    _import(product_manager, text)


@SETTINGS
@given(text=blueprint_like)
def test_any_blueprint_shaped_object_gets_a_message(product_manager: Client, text: str) -> None:
    _import(product_manager, text)


@SETTINGS
@given(depth=st.integers(min_value=1, max_value=5000))
def test_deep_nesting_gets_a_message(product_manager: Client, depth: int) -> None:
    _import(product_manager, '{name: "x", arch: ' + "[" * depth + "]" * depth + "}")

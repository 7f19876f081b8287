"""Search-as-you-type: exact name first, then prefixes, substrings, summary words."""

from __future__ import annotations

import pytest

from package_index.search import package_search
from tests.package_index.conftest import AMD64, BOTH

pytestmark = pytest.mark.django_db


def test_search_ranks_exact_then_prefix_then_substring_then_summary(loaded: str) -> None:
    names = [hit.name for hit in package_search(query="vim", **AMD64)]

    assert names[:4] == ["vim", "vim-tiny", "vim-runtime", "neovim"]
    assert names[4:] == [], "summaries that mention vim belong to packages already listed"


def test_search_finds_summary_words_in_any_order(loaded: str) -> None:
    assert [hit.name for hit in package_search(query="ssh server", **AMD64)] == ["openssh-server"]
    assert [hit.name for hit in package_search(query="SERVER secure", **AMD64)] == [
        "openssh-server"
    ]


def test_search_returns_size_summary_and_the_arches_that_have_it(loaded: str) -> None:
    hits = {hit.name: hit for hit in package_search(query="intel-micro", **BOTH)}
    vim = package_search(query="vim", **BOTH)[0]

    assert hits["intel-microcode"].arches == ("amd64",)
    assert (vim.name, vim.arches, vim.installed_size, vim.size) == (
        "vim",
        ("amd64", "arm64"),
        3753,
        1567392,
    )
    assert vim.summary == "Vi IMproved - enhanced vi editor"


def test_search_respects_limit_and_ignores_blank_or_unknown_scope(loaded: str) -> None:
    assert len(package_search(query="v", limit=2, **AMD64)) == 2
    assert package_search(query="   ", **AMD64) == []
    assert package_search(query="vim", suite="trixie", arches=["amd64"], components=["main"]) == []


def test_search_short_text_looks_at_name_starts_only(loaded: str) -> None:
    """One or two letters match half the archive inside names and summaries: only prefixes."""
    assert [hit.name for hit in package_search(query="ss", **AMD64)] == []
    assert [hit.name for hit in package_search(query="ssh", **AMD64)] == [
        "openssh-server",
        "python3-sshtunnel",
    ], "names containing the text, shortest first"

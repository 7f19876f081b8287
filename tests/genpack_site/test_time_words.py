"""Times as people say them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template

from genpack_site.templatetags.time_words import ago

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "words"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-5), "just now"),  # a clock a little ahead
        (timedelta(minutes=1), "1\xa0minute ago"),
        (timedelta(hours=3, minutes=5), "3\xa0hours, 5\xa0minutes ago"),
    ],
)
# Django's timesince keeps a number with its unit by a no-break space.
def test_ago_never_says_zero_minutes(before: timedelta, words: str) -> None:
    assert ago(NOW - before, NOW) == words


def test_ago_is_a_builtin_of_every_template() -> None:
    rendered = Template("{{ when|ago }}").render(Context({"when": datetime.now(UTC)}))
    assert rendered == "just now"

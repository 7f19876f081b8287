"""The accessibility check: axe-core (from npm, package.json) run in the page under test.

`axe_check(page)` injects node_modules/axe-core/axe.min.js, runs the WCAG 2.0/2.1 A and AA
rules on the whole document and fails with every serious or critical violation: its rule id,
impact, help text and the first few elements it concerns. `scripts/install.sh test` (make
test) installs axe-core with `npm ci`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
NODES_SHOWN = 3

_RUN = """async (tags) => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
    }));
}"""


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every WCAG 2.1 A/AA violation axe-core finds in the page as it is now."""
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS.relative_to(ROOT)} is missing: run `npm ci` (make install-test)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the pages' Content-Security-Policy
        # (script-src 'self') does not govern, unlike an inline <script> tag.
        page.evaluate("() => {\n" + AXE_JS.read_text(encoding="utf-8") + "\n}")
    return page.evaluate(_RUN, WCAG_21_AA)


def axe_report(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{len(v['nodes'])} element(s)]")
        for node in v["nodes"][:NODES_SHOWN]:
            lines.append(f"    {node['target']}")
            summary = (node["summary"] or "").strip().replace("\n", "\n      ")
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)


def axe_check(page: Page, what: str = "") -> list[dict[str, Any]]:
    """Fail when axe-core finds a serious or critical WCAG 2.1 AA violation; the lesser ones
    are returned for the caller to report."""
    violations = axe_violations(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    if blocking:
        pytest.fail(
            f"axe-core: serious or critical WCAG 2.1 AA violations on {what or page.url}:\n"
            + axe_report(blocking),
            pytrace=False,
        )
    return violations

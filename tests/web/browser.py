"""A real browser for the page tests (tests/web/test_browser.py): Debian's Chromium driven by
Playwright, axe-core's accessibility checks, signing in through the real form, screenshots.

The tests drive the distribution's Chromium (`.ci/run` installs it), never a browser that
Playwright downloads: nothing is fetched at test time, and the browser is one people run.
axe-core and nhsuk-frontend come from the npm install in frontend/. When any of them is
missing the tests skip with the reason on a developer's machine, but fail under CI, where a
skip would hide that no page was checked (the rule tests/conftest.py applies to PostgreSQL).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

REPOSITORY = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = REPOSITORY / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
NHSUK_FRONTEND = REPOSITORY / "frontend" / "node_modules" / "nhsuk-frontend" / "dist" / "nhsuk"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
MOBILE = {"width": 390, "height": 844}


def require(path: Path, what: str, how: str) -> Path:
    """`path` when it exists; otherwise skip the test, or fail it under CI."""
    if path.exists():
        return path
    problem = f"{what} is not at {path} ({how})"
    if os.environ.get("CI"):
        pytest.fail(f"{problem}: CI must run the browser tests")
    pytest.skip(problem)


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Headless Debian Chromium, with the npm assets the tests need checked first."""
    chromium = require(CHROMIUM, "Debian's Chromium", "apt-get install chromium")
    require(AXE, "axe-core", "run `npm ci` in frontend/")
    require(NHSUK_FRONTEND, "nhsuk-frontend", "run `npm ci` in frontend/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Browser, base_url: str | None = None, **options: Any) -> Iterator[Page]:
    """A page in a fresh context (its own cookies): one person at one computer."""
    context = browser.new_context(base_url=base_url, **options)
    try:
        yield context.new_page()
    finally:
        context.close()


def someone_at_a_computer(
    browser: Browser, base_url: str, javascript: bool = True, **options: Any
) -> AbstractContextManager[Page]:
    """A page in a fresh context for one person, with JavaScript or without. With it, the
    context bypasses the Content-Security-Policy so that axe can be injected as an inline
    script (test_pages_break_no_content_security_policy in tests/web/test_browser.py checks
    the policy itself); without it, axe cannot run at all."""
    scripts: dict[str, Any] = {"bypass_csp": True} if javascript else {"java_script_enabled": False}
    return new_page(browser, base_url, **scripts, **options)


# --- The server and the screenshots ----------------------------------------------------------


def web_root(fhir_base: str) -> str:
    """The pages' root on a server whose FHIR base URL is `fhir_base` (as `live_server`)."""
    return fhir_base.removesuffix("/fhir/R4")


def database_kind(database_url: str) -> str:
    """`sqlite` or `postgresql`: which database a screenshot was taken on, for its name."""
    return database_url.split(":", 1)[0].split("+", 1)[0]


def screenshots_for(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """The folder for one journey's screenshots, made and printed: screenshots/<name> in the
    session's temporary folder, outside the repository. With pytest-xdist it is the folder
    above the workers' own (/tmp/pytest-of-<user>/pytest-<n>/screenshots/<name>), so the
    screenshots of every worker land together."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / "screenshots" / name
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


def screenshots_fixture(name: str) -> object:
    """A `screenshots` fixture for a module (`screenshots = screenshots_fixture("care-journey")`):
    the folder screenshots_for makes for `name`."""

    @pytest.fixture
    def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return screenshots_for(tmp_path_factory, name)

    return screenshots


# --- Accessibility ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AxeNode:
    target: str
    html: str
    summary: str


@dataclass(frozen=True)
class AxeViolation:
    rule: str
    impact: str
    help: str
    nodes: tuple[AxeNode, ...]

    @property
    def blocking(self) -> bool:
        return self.impact in BLOCKING_IMPACTS


_RUN_AXE = """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(result =>
  result.violations.map(v => ({
    rule: v.id, impact: v.impact || 'unknown', help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html,
                              summary: n.failureSummary || ''}))
  })))"""


def axe_violations(page: Page) -> list[AxeViolation]:
    """axe-core's WCAG 2.2 A/AA violations on the page as it is now.

    The page's context must be made with bypass_csp=True: add_script_tag inserts axe as an
    inline script, which the server's Content-Security-Policy rightly forbids. The check is
    of the page, not of the policy (tests/web/test_browser.py checks the policy separately).
    It needs JavaScript enabled: axe runs on timers that a page without scripts never fires.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(_RUN_AXE, WCAG_TAGS)
    return [
        AxeViolation(
            rule=v["rule"],
            impact=v["impact"],
            help=v["help"],
            nodes=tuple(AxeNode(n["target"], n["html"], n["summary"]) for n in v["nodes"]),
        )
        for v in found
    ]


def describe_violations(where: str, violations: list[AxeViolation]) -> str:
    """Every violation with its impact and the HTML involved, for a failure message."""
    lines = [f"axe found {len(violations)} violation(s) on {where}:"]
    for violation in violations:
        lines.append(f"- {violation.rule} ({violation.impact}): {violation.help}")
        for node in violation.nodes:
            lines.append(f"    at {node.target}: {node.html}")
            summary = " ".join(node.summary.split())
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)


def check_accessible(page: Page, where: str) -> list[AxeViolation]:
    """Fail on any serious or critical violation, listing all of them (every impact); the
    violations are also printed, so a passing run still shows the moderate and minor ones."""
    violations = axe_violations(page)
    if violations:
        print(describe_violations(where, violations))
    assert not any(v.blocking for v in violations), describe_violations(where, violations)
    return violations


# --- People's actions ------------------------------------------------------------------------


def sign_in(page: Page, username: str, password: str, *, lands_on: str = "/home") -> None:
    """Sign in through the real form, as a person does, and wait for the page it leads to."""
    page.goto("/sign-in")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(re.escape(lands_on) + r"$"))


def focused(page: Page) -> str:
    """What has the keyboard focus, as a short description: `input#username`, `a: Home`."""
    description: str = page.evaluate(
        """() => {
          const e = document.activeElement;
          if (!e || e === document.body) return 'body';
          const tag = e.tagName.toLowerCase();
          if (e.id) return `${tag}#${e.id}`;
          const name = e.getAttribute('aria-label') || e.textContent.trim().replace(/\\s+/g, ' ');
          return `${tag}: ${name}`;
        }"""
    )
    return description


def focus_is_on(page: Page, selector: str) -> bool:
    """Whether the element `selector` finds is the one with the keyboard focus."""
    answer: bool = page.locator(selector).evaluate("e => e === document.activeElement")
    return answer


def horizontal_scroll(page: Page) -> tuple[int, int]:
    """(the document's scroll width, the window's inner width): no sideways scrolling when
    the first is not more than the second."""
    widths: list[int] = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    return widths[0], widths[1]


def save_screenshot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def content_security_problems(page: Page) -> list[str]:
    """A list that fills with what the page's console says about the Content-Security-Policy
    (Chromium reports each blocked script, style or image there) and with uncaught errors."""
    problems: list[str] = []

    def heard(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            problems.append(f"{page.url}: {message.text}")

    page.on("console", heard)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: uncaught {error}"))
    return problems

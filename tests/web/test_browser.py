"""The console in a real browser: Debian's headless Chromium, driven by Playwright.

Skipped, with the reason, when Playwright or Chromium is missing (``scripts/test``
installs both when it can).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess

from .conftest import NO_AIOHTTP, Console, ConsoleFactory, bury, counts, put

pytest.importorskip("aiohttp", reason=NO_AIOHTTP)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'"
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WAIT = 10_000  # milliseconds any expectation may take


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; scripts/test does)")
    with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=FLAGS, headless=True
        )
        yield context
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = browser.new_page()
    tab.set_default_timeout(WAIT)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.close()
    assert not errors, errors


def expect(locator: Any) -> Any:
    return sync_api.expect(locator)


def cell(page: Any, table: str, row: str, column: str) -> Any:
    return page.locator(f'{table} tr:has(th:text-is("{row}")) td[data-col="{column}"]')


def test_the_overview_follows_jobs_put_from_outside(
    console: Console, beanstalk: Client, page: Any
) -> None:
    put(beanstalk, "emails", b"one")
    page.goto(console.url)
    ready = page.locator('#tubes tr[data-tube="emails"] td[data-col="ready"]')
    expect(ready).to_have_text("1", timeout=WAIT)
    put(beanstalk, "emails", *[b"more"] * 4)
    bury(beanstalk, "emails", b"bad")
    expect(ready).to_have_text("5", timeout=WAIT)
    expect(page.locator('#tubes tr[data-tube="emails"] td[data-col="buried"]')).to_have_text("1")
    put(beanstalk, "sms", b"new tube")
    expect(page.locator('#tubes tr[data-tube="sms"]')).to_be_visible(timeout=WAIT)
    expect(page.locator("#servers td[data-col='current-jobs-ready']")).to_have_text("6")
    expect(page.locator("#live")).to_have_text("live")
    assert page.locator("#charts figure").count() == 3


def test_kick_delete_move_and_pause_from_the_tube_page(
    console: Console, beanstalk: Client, page: Any
) -> None:
    bury(beanstalk, "work", *[b"job %d" % n for n in range(4)])
    put(beanstalk, "work", b"ready one")
    page.goto(f"{console.url}tube?name=work")
    address = console.get("api/config").data["servers"][0]["address"]
    buried = cell(page, "#counts", address, "buried")
    ready = cell(page, "#counts", address, "ready")
    expect(buried).to_have_text("4", timeout=WAIT)

    page.fill("#kick input[name=count]", "2")
    page.click("#kick button")
    expect(page.locator("#status")).to_have_text("kicked 2 jobs in work", timeout=WAIT)
    expect(buried).to_have_text("2", timeout=WAIT)
    expect(ready).to_have_text("3", timeout=WAIT)
    assert counts(beanstalk, "work")["buried"] == 2

    next_ready = page.locator('article.job[data-state="ready"]')
    expect(next_ready.locator("pre.body")).to_have_text("job 0")  # kicked, first in line
    first = next_ready.get_attribute("data-id")
    next_ready.locator("button", has_text="Delete").click()
    page.locator("dialog.confirm button", has_text="Delete").click()
    expect(page.locator("#status")).to_have_text(f"deleted job {first} on {address}", timeout=WAIT)
    expect(ready).to_have_text("2", timeout=WAIT)

    page.fill("#move input[name=target]", "work.retry")
    page.uncheck("#move input[name=ready]")
    page.click("#move button:has-text('Move')")
    expect(page.locator("dialog.confirm p")).to_contain_text("into work.retry")
    page.locator("dialog.confirm button", has_text="Move").click()
    expect(page.locator("#status")).to_have_text(
        "moved 2 jobs from work to work.retry", timeout=WAIT
    )
    expect(buried).to_have_text("0", timeout=WAIT)
    assert counts(beanstalk, "work.retry")["buried"] == 2

    page.fill("#pause input[name=seconds]", "120")
    page.click("#pause button:has-text('Pause')")
    expect(cell(page, "#counts", address, "pause")).to_contain_text("m", timeout=WAIT)
    assert beanstalk.queue.stats_tube("work")["pause"] == 120
    page.click("#pause button:has-text('Resume')")
    expect(cell(page, "#counts", address, "pause")).to_have_text("no", timeout=WAIT)


def test_a_destructive_action_cancelled_does_nothing(
    console: Console, beanstalk: Client, page: Any
) -> None:
    bury(beanstalk, "keep", b"x", b"y")
    page.goto(f"{console.url}tube?name=keep")
    expect(page.locator("article.job")).to_have_count(1, timeout=WAIT)
    page.click("#delete-buried button")
    page.locator("dialog.confirm button", has_text="Cancel").click()
    expect(page.locator("#status")).to_have_text("Nothing done.")
    assert counts(beanstalk, "keep")["buried"] == 2


def test_put_from_the_page(console: Console, beanstalk: Client, page: Any) -> None:
    put(beanstalk, "inbox", b"first")
    page.goto(f"{console.url}tube?name=inbox")
    page.fill("#put textarea", '{"to": "ada"}')
    page.check("#put input[name=envelope]")
    page.click("#put button")
    expect(page.locator("#status")).to_contain_text("put job 2 into inbox", timeout=WAIT)
    message = beanstalk.queue.peek(2)
    assert message is not None and message.body == {"to": "ada"}  # noqa: PT018


SCRIPT = (
    b"<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"
    b"<svg onload='window.pwned = 3'></svg>"
)


def test_a_body_holding_markup_shows_as_text_and_runs_nothing(
    console: Console, beanstalk: Client, page: Any
) -> None:
    put(beanstalk, "evil", SCRIPT)
    bury(beanstalk, "evil", b'{"html": "<script>window.pwned = 4</script>"}')
    page.goto(f"{console.url}tube?name=evil")
    body = page.locator('article.job[data-state="ready"] pre.body')
    expect(body).to_have_text(SCRIPT.decode(), timeout=WAIT)
    expect(page.locator('article.job[data-state="buried"] pre.body')).to_contain_text(
        '"<script>window.pwned = 4</script>"'
    )
    page.fill("#search input[name=text]", "pwned")
    page.click("#search button")
    expect(page.locator("#results article.job")).to_have_count(2, timeout=WAIT)
    assert page.evaluate("window.pwned") is None
    assert page.locator("main script, main img, main svg:not(.spark):not([role=img])").count() == 0
    assert page.locator("script").count() == 1  # the page's own module


def test_read_only_offers_no_action(
    make_console: ConsoleFactory, server: BeanstalkdProcess, beanstalk: Client, page: Any
) -> None:
    console = make_console([server.address], read_only=True)
    bury(beanstalk, "ro", b"x")
    put(beanstalk, "ro", b"y")
    page.goto(f"{console.url}tube?name=ro")
    expect(page.locator("article.job")).to_have_count(2, timeout=WAIT)
    expect(page.locator("#actions")).to_be_hidden()
    assert page.locator("#forms form").count() == 0
    assert page.locator("article.job button").count() == 0
    assert page.locator("main button").all_text_contents() == ["Search"]


class _Evil(BaseHTTPRequestHandler):
    """A page of another site that tries to delete a job through the visitor's browser."""

    target = ""

    def do_GET(self) -> None:
        page = f"""<!doctype html><body>
<form id=f method=POST action="{self.target}api/delete-job" enctype="text/plain">
<input name='{{"server": 0, "id": 1, "x": "' value='"}}'></form>
<script>
fetch("{self.target}api/delete-job", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: '{{"server": 0, "id": 1}}'}})
  .catch(() => null).then(() => document.getElementById("f").submit());
</script></body>"""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page.encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_a_cross_site_post_is_refused(console: Console, beanstalk: Client, page: Any) -> None:
    [uid] = put(beanstalk, "victim", b"precious")
    assert uid == 1
    _Evil.target = console.url
    evil = ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page.goto(console.url)  # the visitor has the console open
        # Another site (localhost is another site than 127.0.0.1 to the browser).
        with page.expect_navigation(url=f"{console.url}api/delete-job", timeout=WAIT):
            page.goto(f"http://localhost:{evil.server_address[1]}/")
        assert "is not accepted" in page.content()
    finally:
        evil.shutdown()
        evil.server_close()
    assert counts(beanstalk, "victim")["ready"] == 1


def test_a_pool_shows_each_server_and_marks_the_down_one(
    make_console: ConsoleFactory, server: BeanstalkdProcess, beanstalk: Client, page: Any
) -> None:
    with BeanstalkdProcess() as other:
        console = make_console([server.address, other, ("127.0.0.1", 9)])
        put(beanstalk, "jobs", b"a", b"b")
        with Client(*other) as second:
            put(second, "jobs", b"c")
        page.goto(console.url)
        expect(page.locator('#tubes tr[data-tube="jobs"] td[data-col="ready"]')).to_have_text(
            "3", timeout=WAIT
        )
        expect(page.locator("#servers th.down")).to_have_text("127.0.0.1:9")
        expect(page.locator("#servers tr.down td.down")).to_contain_text("down: cannot connect")
        page.select_option("#server", label=f"{other[0]}:{other[1]}")
        expect(page.locator('#tubes tr[data-tube="jobs"] td[data-col="ready"]')).to_have_text("1")
        page.goto(f"{console.url}tube?name=jobs")
        expect(page.locator("#counts tr.total td[data-col=ready]")).to_have_text("3", timeout=WAIT)
        expect(page.locator("#counts tr.down")).to_contain_text("down:")
        expect(page.locator("article.job")).to_have_count(2)

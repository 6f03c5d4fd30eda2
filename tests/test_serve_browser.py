"""`latency-quiz serve` in a real headless browser: Debian's chromium driven by Playwright
(never a downloaded browser). Load the page, see the dashboard, start practice, answer one
question, find the attempt in the database. Only loopback traffic: every other request the
page makes (a web font) is refused. The screenshot is kept in $LATENCY_QUIZ_ARTIFACTS (else the
test's tmp dir). Also: the token that a non-loopback address requires."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from quiz.cli.serve import is_loopback
from quiz.store import open_store

CHROMIUM = "/usr/bin/chromium"
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-B]|[=>])")
USER = "web-candidate"
STARTUP_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    db_url: str, home: Path, port: int, *extra: str
) -> tuple[subprocess.Popen[str], str]:
    """`latency-quiz serve` in the background; returns it and the address it printed."""
    env = {**os.environ, "LATENCY_QUIZ_HOME": str(home)}
    args = ["--db", db_url, "--user", USER, "serve", "--port", str(port), *extra]
    server = subprocess.Popen(
        [sys.executable, "-m", "quiz", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert server.stdout is not None
    printed = []
    for line in server.stdout:
        printed.append(line)
        if line.startswith("Open "):
            address = line.split()[1]
            wait_until(partial(responds, address), "the server to answer")
            return server, address
    raise AssertionError("serve exited without an address:\n" + "".join(printed))


def responds(address: str) -> bool:
    try:
        urllib.request.urlopen(address, timeout=5).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout_s: float = STARTUP_S,
    pause: Callable[[], object] = lambda: time.sleep(0.25),
) -> None:
    """Poll ``condition``; with a browser, ``pause`` must let Playwright deliver its events."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    db_url = f"sqlite:///{tmp_path / 'served.db'}"
    server, address = start_server(db_url, tmp_path, free_port())
    try:
        yield db_url, address
    finally:
        os.killpg(server.pid, 15)  # the server and the app processes it started
        server.wait(timeout=30)


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM} (apt-get install chromium)")
def test_the_served_app_works_in_chromium(served: tuple[str, str], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    db_url, address = served
    artifacts = Path(os.environ.get("LATENCY_QUIZ_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    received: list[bytes] = []

    def screen_text(since: int = 0) -> str:
        """What the app has sent to the page (from frame ``since`` on), control sequences
        removed."""
        return ANSI.sub(b"", b"".join(received[since:])).decode("utf-8", "ignore")

    def loopback_only(route: object) -> None:
        host = re.sub(r"^\w+://([^/:]+).*", r"\1", route.request.url)  # type: ignore[attr-defined]
        route.continue_() if is_loopback(host) else route.abort()  # type: ignore[attr-defined]

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else []
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.route("**/*", loopback_only)
            page.on(
                "websocket",
                lambda ws: ws.on(
                    "framereceived",
                    lambda data: received.append(
                        data if isinstance(data, bytes) else data.encode()
                    ),
                ),
            )
            page.goto(address)

            def until(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
                wait_until(condition, what, timeout_s, lambda: page.wait_for_timeout(250))

            until(lambda: "questions in the bank" in screen_text(), "the dashboard")
            until(lambda: f"signed in as {USER}" in screen_text(), "the header")
            page.locator(".xterm-helper-textarea").focus()  # keys to the terminal, no click
            page.keyboard.press("p")
            until(lambda: "Start" in screen_text(), "the practice setup")
            started = len(received)
            page.keyboard.press("Control+s")
            until(lambda: "Question 1/" in screen_text(started), "the first question")
            page.wait_for_timeout(1000)  # the answer widget takes focus once it is drawn
            # Option 1, or the number 1 in a text box: either is stored. An order question (the
            # CI once drew one) takes a letter: "a" puts step A first; "1" left it unanswered.
            order = "Type the letters in order" in screen_text(started)  # its key hint
            page.keyboard.press("a" if order else "1")
            page.wait_for_timeout(500)
            page.keyboard.press("Control+s")
            store = open_store(db_url, user=USER)
            try:
                asks_rating = "How well did you recall it"  # a short answer waits for a rating
                until(lambda: bool(store.attempts()) or asks_rating in screen_text(), "a verdict")
                if not store.attempts():
                    page.keyboard.press("3")  # Good
                until(lambda: bool(store.attempts()), "the attempt to be stored")
                [attempt] = store.attempts()
                assert attempt.mode == "practice" and attempt.answer.strip()
                assert store.as_user("someone-else").attempts() == []
            finally:
                store.close()
                page.wait_for_timeout(1000)  # let the verdict reach the page first
                page.screenshot(path=str(artifacts / "serve-browser.png"))  # pass or fail
        finally:
            browser.close()


def test_a_non_loopback_address_needs_the_token_on_every_request(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve", reason="textual-serve is not installed")
    port = free_port()
    local = f"http://127.0.0.1:{port}"
    db_url = f"sqlite:///{tmp_path / 'served.db'}"
    server, address = start_server(
        db_url, tmp_path, port, "--host", "0.0.0.0", "--public-url", local
    )
    try:
        assert address.startswith(f"{local}/?token=")
        token = address.split("token=")[1]

        def status(path: str, cookie: str | None = None) -> int:
            request = urllib.request.Request(local + path)
            if cookie:
                request.add_header("Cookie", cookie)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return int(response.status)
            except urllib.error.HTTPError as err:
                return err.code

        assert status("/") == 403
        assert status("/static/js/textual.js") == 403
        assert status("/?token=wrong") == 403
        assert status(f"/?token={token}") == 200
        assert status("/static/js/textual.js", f"latency_quiz_token={token}") == 200
        assert status("/static/js/textual.js", "latency_quiz_token=wrong") == 403
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False)]
    + [("192.168.1.5", False), ("example.org", False)],
)
def test_which_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback

"""A page opened in real headless Chromium, through the DevTools protocol (a few calls over one
websocket): which images loaded, what the console said, and a screenshot. No browser is
downloaded: Debian's `chromium-headless-shell` (installed by scripts/test.sh) is driven directly."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CANDIDATES = ("chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell", "chromium",
              "google-chrome", "chrome")


MISSING = ("no Chromium found for the browser tests: install Debian's chromium-headless-shell "
           "(scripts/test.sh installs it; or: apt-get install chromium-headless-shell)")


def executable() -> str | None:
    return next((shutil.which(c) for c in CANDIDATES if shutil.which(c)), None)


def require() -> str:
    """The browser's path, or the test fails in one line saying what to install (never a skip:
    a report that no browser has opened is untested)."""
    import pytest

    path = executable()
    if path is None:
        pytest.fail(MISSING, pytrace=False)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inspect(page: Path, timeout: float = 60.0) -> dict:
    """Open `page` (a file) and return {'images': [naturalWidth...], 'console': [...], 'errors':
    [...], 'screenshot': PNG bytes, 'title': str, 'scripts', 'links' (not data:), 'handlers' (elements
    with event handlers, frames, forms): counts; 'ran': whether a planted script set window.__pwned;
    'requests': URLs fetched besides the page itself and data: URIs}."""
    import websocket  # websocket-client

    port = _free_port()
    profile = tempfile.mkdtemp(prefix="archbench-chromium-")
    browser = subprocess.Popen([require(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                                f"--remote-debugging-port={port}", "--remote-allow-origins=*",
                                "--window-size=1280,2000", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = _first_page(port, timeout)
        ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=timeout)
        session = _Session(ws)
        for domain in ("Page", "Runtime", "Log", "Network"):
            session.call(f"{domain}.enable")
        session.call("Page.navigate", url=Path(page).resolve().as_uri())
        session.wait_for("Page.loadEventFired", timeout)
        images = session.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1)")
        title = session.evaluate("document.title")
        active = session.evaluate("[document.scripts.length, Array.from(document.links).filter(a => "
                                  "!a.href.startsWith('data:')).length, document.querySelectorAll('[onerror],[onload],"
                                  "[onclick],iframe,object,embed,form').length, window.__pwned === true]")
        shot = base64.b64decode(session.call("Page.captureScreenshot", format="png")["data"])
        ws.close()
        requests = [e["params"]["request"]["url"] for e in session.events if e.get("method") == "Network.requestWillBeSent"]
        return {"images": images, "console": session.console, "errors": session.errors, "screenshot": shot,
                "title": title, "scripts": active[0], "links": active[1], "handlers": active[2], "ran": active[3],
                "requests": [u for u in requests if not u.startswith(("data:", Path(page).resolve().as_uri()))]}
    finally:
        browser.kill()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _first_page(port: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            if pages:
                return pages[0]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("Chromium's DevTools endpoint did not answer")
        time.sleep(0.1)


class _Session:
    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []
        self.console: list[str] = []  # console messages of every level
        self.errors: list[str] = []  # console errors, exceptions and error log entries

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, event: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event}")
            self._receive()

    def _receive(self) -> dict:
        message = json.loads(self.ws.recv())
        method = message.get("method", "")
        if method:
            self.events.append(message)
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"{params.get('type')}: {text}")
            if params.get("type") in ("error", "assert"):
                self.errors.append(text)
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params.get("exceptionDetails", {}).get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.errors.append(params["entry"].get("text", ""))
        return message

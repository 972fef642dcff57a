"""Debian's Chromium driven by Playwright, and a tiny ISV page on another origin.

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium`` (``make
install`` puts it there when it can). Without it the browser tests skip and say how to get
it, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (
        f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
        "(`make install` as root installs it, or `apt-get install -y chromium`)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def launch() -> Iterator[object]:
    """A browser for a module's tests (``sync_playwright`` runs its own loop in a greenlet)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def dashboard_tab(browser: Any, url: str, height: int = 820) -> Iterator[Any]:
    """A tab on the dashboard; afterwards, no script error was seen in it.

    Nothing the Content-Security-Policy refused (an inline style, say) either; a refused call
    (a 409 or 422 the page shows) is logged by Chromium as a failed resource and allowed.
    """
    context = browser.new_context(viewport={"width": 1200, "height": height}, accept_downloads=True)
    context.set_default_timeout(30_000)  # a loaded 2-core machine
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(url)
    yield tab
    context.close()
    assert [e for e in errors if "Failed to load resource" not in e] == []


def host_app(solder_url: str) -> Starlette:
    """AcmeCo's page: loads the SDK from Solder and shows what the callbacks receive.

    ``/evil`` is a page that posts a forged ``workflowCreated`` to whoever frames it.
    """

    async def home(_: Request) -> HTMLResponse:
        src = html.escape(f"{solder_url}/sdk/solder.js")
        return HTMLResponse(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>AcmeCo</title></head><body style="font-family: sans-serif">
<h1>AcmeCo: integrations</h1><p>Connect your tools. What the SDK called back with:</p>
<pre id="result"></pre>
<script src="{src}"></script>
<script>
window.results = [];
window.shown = false;  // did the modal ever show? (hide: true must not)
new MutationObserver(() => {{
  const mask = document.querySelector(".solder-mask");
  if (mask && !mask.hidden) window.shown = true;
}}).observe(document.body, {{subtree: true, childList: true, attributes: true}});
window.remember = function (result) {{
  window.results.push(result);
  const ids = result.workflowIds ? `, ${{result.workflowIds.length}} workflow(s) installed` : "";
  document.getElementById("result").textContent = `success: ${{result.success}}${{ids}}`;
}};
</script></body></html>""")

    async def evil(_: Request) -> HTMLResponse:
        forged = json.dumps({"workflowCreated": True, "workflowIds": ["forged"]})
        return HTMLResponse(f"""<!doctype html><html><body><script>
parent.postMessage({forged}, "*");
window.sent = true;
</script></body></html>""")

    return Starlette(routes=[Route("/", home), Route("/evil", evil)])


def shot(locator: object, name: str) -> None:
    """Write the step's screenshot into docs/img (the README shows them)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(  # type: ignore[attr-defined]
        path=str(SHOTS / f"{name}.png"), animations="disabled", caret="hide"
    )


def install(page: Any, token: str, method: str = "install", **params: Any) -> Any:
    """Call ``Alloy.<method>`` as an ISV's page does; the modal's frame."""
    page.evaluate(
        """(a) => { Alloy.setToken(a.token);
                    Alloy[a.method](Object.assign(a.params, {callback: window.remember})); }""",
        json.loads(json.dumps({"token": token, "method": method, "params": params})),
    )
    return page.frame_locator("iframe.solder-frame")


def results(page: Any) -> list[Any]:
    got: list[Any] = page.evaluate("window.results")
    return got


def closed(popup: Any) -> None:
    """Wait until a popup has closed itself (it may have done so already)."""
    if not popup.is_closed():
        popup.wait_for_event("close")

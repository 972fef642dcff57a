"""The dashboard's files: served by Solder itself, as they are, with a strict policy."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2

from tests.conftest import Server

STATIC = Path(__file__).resolve().parents[2] / "src" / "solder" / "dashboard" / "static"


def test_the_page_and_every_module_it_imports_are_served(server: Server) -> None:
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert '<script type="module" src="/dashboard/static/js/main.js">' in page.text
        modules = sorted(p.name for p in (STATIC / "js").glob("*.js"))
        for name in modules:
            got = client.get(f"/dashboard/static/js/{name}")
            assert got.status_code == 200, name
            assert got.headers["content-type"].startswith("text/javascript")
            assert got.text == (STATIC / "js" / name).read_text()  # as it is: no build step
            for imported in re.findall(r'from "\./([a-z-]+\.js)"', got.text):
                assert imported in modules, (name, imported)
        assert client.get("/dashboard/static/dashboard.css").status_code == 200
        for bad in ("../pages.py", "js/../../pages.py", "index.html", "js/nope.js", "x.py"):
            got = client.get(f"/dashboard/static/{bad}")
            assert got.status_code == 404, bad
            assert set(got.json()) - {"field"} == {"message"}
        assert client.get("/health").json() == {"status": "ok"}  # the other routes stay

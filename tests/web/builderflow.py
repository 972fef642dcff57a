"""Steps of the builder's browser tests: log in, open a page, build a block, read a download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.web.browser import shot


def block(page: Any, key: str) -> Any:
    return page.locator("main").get_by_role("region", name=f"Block {key}", exact=True)


def add_block(page: Any, where: str, title: str) -> None:
    group = page.get_by_role("group", name=f"Add to {where}", exact=True)
    group.get_by_role("combobox").select_option(label=title)
    group.get_by_role("button", name="Add block").click()


def pick(page: Any, card: Any, field: str, path: str) -> None:
    """Insert ``{{ path }}`` into ``field`` with the variable picker, by keyboard."""
    card.get_by_role("button", name=f"Insert a variable into {field}", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Filter").fill(path)
    dialog.get_by_role("button", name=path, exact=True).focus()
    page.keyboard.press("Enter")
    dialog.wait_for(state="detached")


def saved(page: Any, what: str = "Draft saved") -> None:
    page.get_by_role("status").get_by_text(what).first.wait_for()


def download(page: Any, button: Any, into: Path) -> bytes:
    with page.expect_download() as got:
        button.click()
    target = into / got.value.suggested_filename
    got.value.save_as(target)
    return target.read_bytes()


def picture(page: Any, locator: Any, name: str) -> None:
    """``shot`` without the passing status message over the picture."""
    page.evaluate("document.getElementById('status').hidden = true")
    shot(locator, name)

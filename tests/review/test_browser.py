"""End-to-end: `distill review DATASET` in a subprocess, driven by a real headless Chromium through
Playwright (Debian's `chromium` package; Playwright's own browser download is never used)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.review.data import XSS, make_dataset

CHROMIUM = os.environ.get("DISTILL_CHROMIUM", "/usr/bin/chromium")  # another Chromium build: set this
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the `test` extra) for the browser tests")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} not found: apt-get install chromium for the browser tests", allow_module_level=True)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def cli_server(tmp_path):
    """`distill review DATASET --port 0` as a user runs it; yields (url with token, data set folder)."""
    ds = make_dataset(tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    proc = subprocess.Popen([sys.executable, "-m", "distill", "review", str(ds), "--port", "0"], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=[\w-]+)", line)
        assert m, f"no URL printed: {line!r}"
        yield m.group(1), ds
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def server(tmp_path):
    """The same app in a thread of this process (a subprocess spends seconds importing the whole CLI)."""
    import threading

    import uvicorn

    from distill.review.run import ReviewConfig, build
    from distill.serve.server import bind

    ds = make_dataset(tmp_path)
    token = "test-token"
    app = build(ReviewConfig(dataset=str(ds)), token)
    sock = bind("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    t = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}", ds
    srv.should_exit = True
    t.join(timeout=10)
    app.state.store.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context()
    pg = ctx.new_page()
    dialogs = []
    # any dialog means injected script ran: record it (and dismiss it so the page does not hang)
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    yield pg
    assert dialogs == [], f"a dialog fired: {dialogs}"
    ctx.close()


def key(page, k):
    # The key handler is attached by review.js; after a navigation, #item can be in the DOM
    # before the script has run, and a key pressed then is lost (seen once in CI).
    page.wait_for_load_state("load")
    with page.expect_navigation():
        page.keyboard.press(k)


def shown(page):
    return page.get_attribute("#item", "data-item"), page.inner_text("#status")


def items(ds):
    return [json.loads(x) for s in ("train", "eval") for x in (ds / f"{s}.jsonl").read_text().splitlines()]


def test_keyboard_review_edit_reload_export_and_undo(cli_server, page):
    url, ds = cli_server
    ids = [it["id"] for it in items(ds)]
    page.goto(url)
    assert "token=" not in page.url  # the token moved into a cookie
    assert shown(page) == (ids[0], "pending")
    key(page, "a")  # approve → next item
    assert shown(page) == (ids[1], "pending")
    key(page, "r")  # reject → next
    assert shown(page) == (ids[2], "pending")
    page.keyboard.press("e")  # opens the edit form with the answer focused
    assert page.evaluate("document.activeElement.id") == "edit-answer"
    page.fill("#edit-answer", "At most 100 requests per second per key.")
    key(page, "Control+Enter")
    assert shown(page)[0] == ids[3]
    key(page, "k")
    assert page.inner_text("#answer") == "At most 100 requests per second per key."

    page.reload()  # decisions are kept (they were saved in SQLite, not in the page)
    assert shown(page) == (ids[2], "edited")
    assert page.inner_text("#reviewed") == "3"
    key(page, "k")
    assert shown(page) == (ids[1], "rejected")
    key(page, "k")
    assert shown(page) == (ids[0], "approved")
    assert page.query_selector("#prev") is None

    page.click("#export")
    page.wait_for_selector("#message")
    assert "Exported 2 train and 0 eval items" in page.inner_text("#message")
    out = ds.parent / "dataset-reviewed"
    train = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert [(r["review"], r["answer"]) for r in train] == [
        ("approved", items(ds)[0]["answer"]), ("edited", "At most 100 requests per second per key.")]
    assert train[1]["messages"][2]["content"] == "At most 100 requests per second per key."
    assert json.loads((out / "review.json").read_text())["status"] == {
        "approved": 1, "edited": 1, "rejected": 1, "pending": 4}

    key(page, "u")  # undo the latest decision (the edit): back to that item, pending again
    assert shown(page) == (ids[2], "pending")
    assert page.inner_text("#answer") == items(ds)[2]["answer"]


def test_injected_answers_show_as_text_and_run_nothing(server, page):
    url, ds = server
    page.goto(url)
    for x in XSS:
        it = next(i for i in items(ds) if i["answer"] == x)
        page.goto(url.split("?")[0] + f"?item={it['id']}")
        assert page.inner_text("#answer") == x  # shown literally
        dom = page.evaluate("""() => ({scripts: [...document.scripts].map(s => s.getAttribute('src')),
                                        imgs: document.images.length,
                                        handlers: document.querySelectorAll('[onerror],[onload]').length})""")
        assert dom == {"scripts": ["/static/review.js"], "imgs": 0, "handlers": 0}
        key(page, "a")  # the keyboard still works on that page: our script runs, theirs does not
    assert page.dialogs == []


def test_two_tabs_the_later_save_is_refused_with_a_message(server, browser, page):
    url, ds = server
    page.goto(url)
    other = page.context.new_page()  # same session (cookie), second tab on the same item
    other.goto(url.split("?")[0])
    key(page, "a")
    key(other, "r")
    assert "Not saved: this item was changed in another tab" in other.inner_text("#message")
    assert other.inner_text("#status") == "approved"  # the current state, not the refused one
    other.close()


def test_request_without_token_is_refused(server, browser):
    url, _ = server
    ctx = browser.new_context()
    pg = ctx.new_page()
    r = pg.goto(url.split("?")[0])
    assert r.status == 403 and "token" in pg.inner_text("body")
    assert pg.goto(url.split("?")[0] + "?token=guess").status == 403
    assert pg.goto(url).status == 200  # with it: in
    ctx.close()

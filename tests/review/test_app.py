import html
import json
import re

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")

from fastapi.testclient import TestClient  # noqa: E402

from distill.review.app import csrf_token  # noqa: E402
from distill.review.run import ReviewConfig, build  # noqa: E402
from tests.review.data import XSS, make_dataset  # noqa: E402

TOKEN = "t0k3n-for-tests"


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path)


@pytest.fixture
def client(dataset):
    c = TestClient(build(ReviewConfig(dataset=str(dataset)), TOKEN))
    r = c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"  # the token leaves the address bar
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    return c


def items(dataset):
    return [json.loads(x) for s in ("train", "eval") for x in (dataset / f"{s}.jsonl").read_text().splitlines()]


def by_answer(dataset, start: str) -> dict:
    return next(it for it in items(dataset) if it["answer"].startswith(start))


def post(client, path, **data):
    return client.post(path, data={"csrf": csrf_token(TOKEN)} | data, follow_redirects=False)


def test_every_request_needs_the_token(dataset):
    c = TestClient(build(ReviewConfig(dataset=str(dataset)), TOKEN))
    for path in ["/", "/static/review.js", "/?item=x", "/docs", "/openapi.json"]:
        r = c.get(path)
        assert r.status_code == 403 and "token" in r.text
    assert c.get("/?token=wrong").status_code == 403
    assert c.post("/decide", data={"csrf": csrf_token(TOKEN)}).status_code == 403
    c.cookies.set("distill_review", "wrong")
    assert c.get("/").status_code == 403


def test_state_changes_need_the_csrf_token(client, dataset):
    first = items(dataset)[0]["id"]
    for data in [{}, {"csrf": "nope"}, {"csrf": csrf_token("another-session")}]:
        r = client.post("/decide", data=data | {"item": first, "version": "0", "action": "approve"})
        assert r.status_code == 403
    assert client.get("/decide").status_code == 405  # no state change by GET
    assert "0</span> / <span id=\"total\">7" in client.get("/").text  # nothing was saved


def test_model_text_is_escaped_and_the_page_forbids_inline_script(client, dataset):
    for it in items(dataset):
        r = client.get(f"/?item={it['id']}")
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        page = r.text
        for x in XSS:
            assert x not in page
        # one script element, our own file, whatever the item
        assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/review.js" defer>']
        assert "<img" not in page and "<b>and</b>" not in page
    for x in XSS:
        page = client.get(f"/?item={by_answer(dataset, x)['id']}").text
        assert f'<p id="answer" class="text">{html.escape(x)}</p>' in page


def test_support_span_is_highlighted_after_escaping(client, dataset):
    it = by_answer(dataset, "Above that")  # its answer and chunk contain a literal "<b>and</b>"
    page = client.get(f"/?item={it['id']}").text
    assert ('<mark id="support">Above that the API answers 429 &lt;b&gt;and&lt;/b&gt; sets Retry-After.</mark>'
            in page)
    assert page.count("<mark") == 1


def test_routes_take_no_path_parameters(client):
    paths = [r.path for r in client.app.routes]
    assert "/" in paths and not any("{" in p for p in paths)


def test_decide_moves_on_and_a_stale_tab_gets_a_visible_refusal(client, dataset):
    ids = [it["id"] for it in items(dataset)]
    r = post(client, "/decide", item=ids[0], version="0", action="approve")
    assert r.status_code == 303 and r.headers["location"] == f"/?item={ids[1]}"
    # the second tab still shows version 0 and tries to reject
    r = post(client, "/decide", item=ids[0], version="0", action="reject")
    assert r.status_code == 409
    assert "Not saved: this item was changed in another tab" in r.text and "now approved, version 1" in r.text
    assert client.app.state.store.get(ids[0])["status"] == "approved"
    r = post(client, "/decide", item=ids[1], version="0", action="edit", question=items(dataset)[1]["question"],
             reasoning="", answer="Ninety days.")
    assert r.status_code == 303
    assert client.app.state.store.get(ids[1]) == {"status": "edited", "version": 1,
                                                  "edits": {"reasoning": "", "answer": "Ninety days."}}
    assert 'id="answer" class="text">Ninety days.</p>' in client.get(f"/?item={ids[1]}").text
    r = post(client, "/undo")
    assert r.status_code == 303 and r.headers["location"] == f"/?item={ids[1]}"
    assert client.app.state.store.get(ids[1])["status"] == "pending"
    assert '<span id="reviewed">1</span>' in client.get("/").text


def test_bad_form_values_are_refused(client, dataset):
    first = items(dataset)[0]["id"]
    assert post(client, "/decide", item="../../etc/passwd", version="0", action="approve").status_code == 400
    assert post(client, "/decide", item=first, version="x", action="approve").status_code == 400
    assert post(client, "/decide", item=first, version="0", action="delete").status_code == 400


def test_filters_by_status_flag_and_section(client, dataset):
    its = items(dataset)
    post(client, "/decide", item=its[0]["id"], version="0", action="reject")
    page = client.get("/?status=rejected").text
    assert f'data-item="{its[0]["id"]}"' in page and 'id="next"' not in page
    upload = [it["id"] for it in its if it["section"] == "Upload"]
    page = client.get("/?section=Upload").text
    assert f'data-item="{upload[0]}"' in page and f"/?item={upload[1]}&amp;section=Upload" in page
    page = client.get("/?flag=unanswerable").text
    assert f'data-item="{by_answer(dataset, "The documentation does not say")["id"]}"' in page
    assert 'id="empty"' in client.get("/?status=edited").text


def test_export_button_writes_to_the_folder_fixed_at_start(client, dataset):
    ids = [it["id"] for it in items(dataset)]
    post(client, "/decide", item=ids[0], version="0", action="approve")
    r = post(client, "/export", out="/tmp/elsewhere")  # a path in the request is ignored
    assert r.status_code == 200 and "Exported 1 train and 0 eval items" in r.text
    out = dataset.parent / "dataset-reviewed"
    assert [json.loads(x)["id"] for x in (out / "train.jsonl").read_text().splitlines()] == [ids[0]]


def test_spot_check_reviews_only_the_sample_and_shows_the_estimate(dataset):
    c = TestClient(build(ReviewConfig(dataset=str(dataset), sample=0.3, seed=1), TOKEN))
    c.get(f"/?token={TOKEN}")
    page = c.get("/").text
    assert '<span id="total">3</span>' in page and "spot check of 3 of 7 items" in page
    assert "no sampled item reviewed yet" in page
    first = re.search(r'data-item="(\w+)"', page).group(1)
    post(c, "/decide", item=first, version="0", action="reject")
    assert "1 of 1 reviewed sample items rejected: estimated error rate 100.0%" in c.get("/").text


def test_without_a_token_only_loopback_names_are_served_and_csrf_stays_secret(dataset):
    app = build(ReviewConfig(dataset=str(dataset), token=False), None)
    c = TestClient(app, base_url="http://127.0.0.1:8765")
    page = c.get("/").text
    csrf = re.search(r'name="csrf" value="(\w+)"', page).group(1)
    assert csrf != csrf_token("no-token") and csrf != csrf_token("")
    first = items(dataset)[0]["id"]
    assert c.post("/decide", data={"csrf": csrf_token(""), "item": first, "version": "0",
                                   "action": "approve"}).status_code == 403
    assert c.post("/decide", data={"csrf": csrf, "item": first, "version": "0", "action": "approve"},
                  follow_redirects=False).status_code == 303
    evil = TestClient(app, base_url="http://attacker.example:8765")  # a DNS-rebinding page's Host
    assert evil.get("/").status_code == 403


@pytest.mark.parametrize("how", ["query", "cookie", "csrf"])
def test_a_non_ascii_token_or_cookie_is_a_403_not_a_500(dataset, how):
    """Issue 14 item 10: hmac.compare_digest on a non-ASCII str raised TypeError (a 500)."""
    c = TestClient(build(ReviewConfig(dataset=str(dataset)), TOKEN))
    if how == "query":
        r = c.get("/?token=t%C3%B6k3n")
    elif how == "cookie":
        r = c.get("/", headers={"cookie": "distill_review=t\u00f6k3n".encode("latin-1")})
    else:
        c.get(f"/?token={TOKEN}")
        r = c.post("/decide", data={"csrf": "\u00e9" * 64}, follow_redirects=False)
    assert r.status_code == 403


@pytest.mark.parametrize("path", ["//evil.com/", "///evil.com/x", "/\\evil.com/", "/\\/evil.com/"])
def test_the_token_redirect_never_leaves_the_site(dataset, path):
    """Issue 14 item 10: GET //evil.com/?token=… redirected to //evil.com/ (another site)."""
    c = TestClient(build(ReviewConfig(dataset=str(dataset)), TOKEN))
    r = c.get(f"http://testserver{path}?token={TOKEN}&item=a", follow_redirects=False)
    loc = r.headers["location"]
    assert r.status_code == 303 and loc.startswith("/") and not loc.startswith(("//", "/\\"))
    assert loc.endswith("evil.com/?item=a") or loc.endswith("evil.com/x?item=a")


def _rewrite(ds, name, edit):
    p = ds / name
    lines = p.read_text().splitlines()
    p.write_text("\n".join(edit(lines)) + "\n")


def test_an_overflowing_support_span_breaks_no_page(dataset):
    """Issue 14 item 10: `support: [0, 1e999]` (inf) raised OverflowError on every page."""
    _rewrite(dataset, "train.jsonl", lambda ls: [re.sub(r'"support": \[[^\]]*\]', '"support": [0, 1e999]', ls[0])]
             + ls[1:])
    c = TestClient(build(ReviewConfig(dataset=str(dataset)), TOKEN))
    c.get(f"/?token={TOKEN}")
    first = json.loads((dataset / "train.jsonl").read_text().splitlines()[0])["id"]
    r = c.get(f"/?item={first}")
    assert r.status_code == 200 and "no supporting passage" in r.text
    assert c.get("/").status_code == 200


def _set(field, value):
    def edit(lines):
        rec = json.loads(lines[1])
        rec[field] = value
        return [lines[0], json.dumps(rec)] + lines[2:]
    return edit


@pytest.mark.parametrize("name,edit,match", [
    ("train.jsonl", _set("flags", 3), r"train\.jsonl:2: item .*'flags' must be a list of strings, got 3"),
    ("train.jsonl", _set("section", 7), r"train\.jsonl:2: item .*'section' must be a string, got 7"),
    ("train.jsonl", _set("id", 5), r"train\.jsonl:2: 'id' must be a non-empty string, got 5"),
    ("eval.jsonl", lambda ls: ls[:1] + ["[1, 2]"] + ls[1:], r"eval\.jsonl:2: a record must be a JSON object, got list"),
    ("eval.jsonl", lambda ls: ls[:1] + ['{"id": "x", '] + ls[1:], r"eval\.jsonl:2: not valid JSON"),
    ("chunks.jsonl", lambda ls: ls[:1] + ['{"text": "no id"}'] + ls[1:], r"chunks\.jsonl:2: a chunk needs a string 'id'"),
    ("train.jsonl", lambda ls: ls + [ls[0]], r"train\.jsonl:\d+: item id .* is also on train\.jsonl:1"),
])
def test_malformed_data_sets_are_refused_at_start_naming_file_and_line(dataset, name, edit, match):
    """Issue 14 item 10: these gave start-up tracebacks, or (an int id) an item that could never be decided."""
    _rewrite(dataset, name, edit)
    with pytest.raises(ValueError, match=match):
        build(ReviewConfig(dataset=str(dataset)), TOKEN)

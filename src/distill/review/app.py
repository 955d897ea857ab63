"""The review page: a FastAPI app rendering server-side HTML (Jinja2, autoescaped).

Security, since every string on the page was written by a model:
  * a random token is required on every request: ``?token=`` on the first visit, then an HttpOnly,
    SameSite=Strict cookie (the first visit is redirected to the same URL without the token);
  * all model text goes through Jinja2's autoescape; the supporting span is highlighted by splitting the
    raw chunk at the span's offsets and escaping each part;
  * a Content-Security-Policy allows only this app's own static script and style, so even an escaping
    bug could not run injected script;
  * state changes are POSTs carrying a CSRF token derived from the session token;
  * routes take no path parameters and no file path ever comes from a request: items are looked up by id
    in the data set loaded at start, the export folder is fixed at start.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from distill.review import export as export_mod
from distill.review import sample
from distill.review.dataset import Dataset, support_parts
from distill.review.store import Conflict, Store

COOKIE = "distill_review"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
ACTIONS = {"approve": "approved", "reject": "rejected", "edit": "edited"}
FILTERS = ("status", "flag", "section")
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _same(given: str, secret: str) -> bool:
    """Constant-time comparison of bytes (``hmac.compare_digest`` raises on non-ASCII str: a 500, not a 403)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("utf-8"))


def csrf_token(token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of a fixed label keyed by the session token.

    Args:
        token: the session token.

    Returns:
        64 lowercase hex characters.
    """
    return hmac.new(token.encode(), b"distill-review-csrf", hashlib.sha256).hexdigest()


def create_app(ds: Dataset, store: Store, *, token: str | None, out: str | Path, order: list[str] | None = None,
               sampled: bool = False):
    """The app for reviewing ``ds`` with decisions in ``store``; ``token`` None disables the token check
    (loopback only, refused by :func:`distill.review.run.check_bind` elsewhere); ``order`` the item ids to
    review (a spot-check sample), default all; ``out`` the folder the Export button writes.

    Args:
        ds: the data set under review.
        store: where decisions are kept.
        token: the session token, or None (see above).
        out: the export folder.
        order: item ids in review order; None: every item of ``ds``.
        sampled: ``order`` is a spot-check sample: the page shows the population's size, and Export
            keeps pending items.

    Returns:
        The FastAPI app.
    """
    env = Environment(loader=PackageLoader("distill.review", "templates"), autoescape=select_autoescape(["html"]))
    static = files("distill.review") / "static"
    assets = {"review.js": ("application/javascript", (static / "review.js").read_bytes()),
              "review.css": ("text/css", (static / "review.css").read_bytes())}
    order = list(order) if order is not None else [it["id"] for it in ds.items]
    position = {i: n for n, i in enumerate(order)}
    # without a session token the CSRF token still has to be unguessable by another site's page
    csrf = csrf_token(token or secrets.token_urlsafe(24))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dataset, app.state.store = ds, store

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if token is None and request.url.hostname not in LOOPBACK_NAMES:
            # no token (loopback only): refuse pages asked for under another name, as a DNS-rebinding page would
            return _harden(PlainTextResponse("403: without a token the review page answers only on "
                                             "127.0.0.1 / localhost.", status_code=403))
        if token is not None:
            given = request.query_params.get("token")
            if given is not None and _same(given, token):
                # first visit: keep the token in a cookie and drop it from the address bar and history
                rest = {k: v for k, v in request.query_params.items() if k != "token"}
                # one leading slash: "//evil.com/" as a Location would be another site
                here = "/" + request.url.path.lstrip("/\\")
                resp = RedirectResponse(here + (f"?{urlencode(rest)}" if rest else ""), status_code=303)
                resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
                return _harden(resp)
            if not _same(request.cookies.get(COOKIE, ""), token):
                return _harden(PlainTextResponse("403: open the review page with the URL (and token) that "
                                                 "`distill review` printed.", status_code=403))
        return _harden(await call_next(request))

    def _harden(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def filters_of(params) -> dict:
        return {k: params.get(k, "") for k in FILTERS if params.get(k, "")}

    def matches(item_id: str, statuses, f: dict) -> bool:
        it = ds.by_id[item_id]
        return ((not f.get("status") or statuses.get(item_id, "pending") == f["status"])
                and (not f.get("flag") or f["flag"] in it.get("flags", []))
                and (not f.get("section") or (it.get("section") or it.get("source", "")) == f["section"]))

    def neighbour(item_id: str | None, step: int, statuses, f: dict) -> str | None:
        """The next (step 1) or previous (-1) item in review order that passes the filters."""
        start = position[item_id] if item_id in position else -1
        rng = range(start + 1, len(order)) if step > 0 else range(start - 1, -1, -1)
        return next((order[n] for n in rng if matches(order[n], statuses, f)), None)

    def link(item_id: str | None, f: dict) -> str | None:
        return None if item_id is None else "/?" + urlencode({"item": item_id} | f)

    def page(request: Request, item_id: str | None, f: dict, message: str = "", status_code: int = 200,
             draft: dict | None = None):
        statuses = store.statuses()
        if item_id is None or item_id not in position:
            # the first undecided item that passes the filters, else the first that passes
            item_id = next((i for i in order if statuses.get(i, "pending") == "pending" and matches(i, statuses, f)),
                           None) or neighbour(None, 1, statuses, f)
        counts = {s: 0 for s in ("approved", "edited", "rejected", "pending")}
        for i in order:
            counts[statuses.get(i, "pending")] += 1
        ctx = {"csrf": csrf, "filters": f, "flags": ds.flags, "sections": ds.sections, "counts": counts,
               "total": len(order), "reviewed": len(order) - counts["pending"], "message": message,
               "sampled": sampled, "population": len(ds.items), "item": None, "out": str(out)}
        if sampled:
            done = [i for i in order if statuses.get(i, "pending") != "pending"]
            # a label set (distill label run): a corrected label is an error of the teacher, like a rejected one
            labels = ds.card.get("kind") == "label"
            bad = ("rejected", "edited") if labels else ("rejected",)
            rej = sum(statuses[i] in bad for i in done)
            ctx["estimate"] = sample.describe(sample.estimate(rej, len(done), len(ds.items)),
                                              "rejected or corrected" if labels else "rejected")
        if item_id is not None:
            it = ds.by_id[item_id]
            d = store.get(item_id)
            chunk = ds.chunks.get(it.get("chunk_id"), {})
            text = chunk.get("text", "")
            shown = {k: d["edits"].get(k, it.get(k, "")) for k in ("question", "reasoning", "answer")}
            ctx |= {"item": it, "decision": d, "shown": shown, "draft": draft or shown, "chunk": chunk,
                    "parts": support_parts(text, it.get("support", [0, 0])), "chunk_text": text,
                    "position": position[item_id] + 1,
                    "next": link(neighbour(item_id, 1, statuses, f), f),
                    "prev": link(neighbour(item_id, -1, statuses, f), f)}
        html = env.get_template("item.html").render(**ctx)
        return HTMLResponse(html, status_code=status_code)

    async def form_with_csrf(request: Request) -> dict | None:
        # the page's forms are all urlencoded; parsed here rather than with python-multipart (one dependency less)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return None
        body = (await request.body()).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        if not _same(str(form.get("csrf", "")), csrf):
            return None
        return form

    refused = lambda: PlainTextResponse("403: missing or wrong CSRF token; reload the page and try again.",
                                        status_code=403)

    @app.get("/", response_class=HTMLResponse)
    def item_page(request: Request):
        return page(request, request.query_params.get("item"), filters_of(request.query_params))

    @app.post("/decide")
    async def decide(request: Request):
        form = await form_with_csrf(request)
        if form is None:
            return refused()
        f = filters_of(form)
        item_id, action = str(form.get("item", "")), str(form.get("action", ""))
        if item_id not in position or action not in ACTIONS:
            return PlainTextResponse("400: unknown item or action.", status_code=400)
        try:
            version = int(form.get("version", ""))
        except ValueError:
            return PlainTextResponse("400: version must be an integer.", status_code=400)
        edits = {}
        if action == "edit":
            it = ds.by_id[item_id]
            # normalise newlines the way browsers send them; keep only fields that differ from the original
            sent = {k: str(form.get(k, "")).replace("\r\n", "\n") for k in ("question", "reasoning", "answer")}
            edits = {k: v for k, v in sent.items() if v != it.get(k, "")}
        try:
            store.decide(item_id, ACTIONS[action], version, edits)
        except Conflict as e:
            cur = e.current
            msg = (f"Not saved: this item was changed in another tab or window since you opened it (it is now "
                   f"{cur['status']}, version {cur['version']}). The page below shows the current state; "
                   f"decide again if you still want to change it.")
            draft = None
            if action == "edit":
                draft = {k: str(form.get(k, "")) for k in ("question", "reasoning", "answer")}
            return page(request, item_id, f, msg, status_code=409, draft=draft)
        nxt = neighbour(item_id, 1, store.statuses(), f)
        return RedirectResponse(link(nxt or item_id, f), status_code=303)

    @app.post("/undo")
    async def undo(request: Request):
        form = await form_with_csrf(request)
        if form is None:
            return refused()
        item_id = store.undo()
        f = filters_of(form)
        if item_id is None:
            return page(request, str(form.get("item", "")) or None, f, "Nothing to undo.")
        return RedirectResponse(link(item_id, {}), status_code=303)

    @app.post("/export")
    async def do_export(request: Request):
        form = await form_with_csrf(request)
        if form is None:
            return refused()
        summary = export_mod.export(ds, store, out, keep_pending=sampled)
        w = summary["written"]
        msg = f"Exported {w['train']} train and {w['eval']} eval items to {summary['out']} (summary in review.md)."
        return page(request, str(form.get("item", "")) or None, filters_of(form), msg)

    @app.get("/static/review.js")
    def script():
        return Response(assets["review.js"][1], media_type=assets["review.js"][0])

    @app.get("/static/review.css")
    def style():
        return Response(assets["review.css"][1], media_type=assets["review.css"][0])

    return app

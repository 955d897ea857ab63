"""`distill review DATASET`: serve the review page for a data set on this machine."""

from __future__ import annotations

import ipaddress
import secrets
import sys

from distill.config import check, doc, settings
from distill.results import Result
from distill.review import sample
from distill.review.dataset import Dataset, load
from distill.review.export import DB_NAME, ExportConfig
from distill.review.store import Store


@settings
class ReviewConfig:
    """Settings of `distill review DATASET`."""

    dataset: str = doc("the data set folder `distill docs generate` wrote (WORKDIR/dataset); decisions are kept "
                       "in DATASET/review.sqlite", flag="dataset", default="", required=True)
    host: str = doc("address to listen on (127.0.0.1: this machine only)", default="127.0.0.1")
    port: int = doc("port to listen on (0: any free port; the URL is printed at start)", default=8765, ge=0, lt=65536)
    sample: float = doc("spot check: review a random sample of this share of the items (e.g. 0.05) and estimate "
                        "the error rate of the whole data set (0: review every item)", default=0.0, ge=0.0, le=1.0)
    seed: int = doc("seed of the spot-check sample (the same seed shows the same sample after a restart)",
                    default=0)
    token: bool = doc("require the random token of the printed URL on every request (--no-token: only on "
                      "127.0.0.1 / ::1)", default=True)
    out: str = doc("folder the page's Export button writes (default: DATASET-reviewed beside it)", default="")

    def __post_init__(self):
        check(self.token or is_loopback(self.host), "token", self.token,
              f"on (the default) when listening on {self.host}, which other machines can reach")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: "localhost" or a loopback IP address.

    Args:
        host: a host name or IP address (IPv6 without brackets).

    Returns:
        False for any other name, even one that resolves to a loopback address.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare(cfg: ReviewConfig) -> tuple[Dataset, Store, list[str]]:
    """Load the data set, open its store and fix the review order (the spot-check sample, when asked).

    Args:
        cfg: the review's settings; ``sample`` in (0, 1) draws a spot-check sample (seeded by ``seed``)
            and records it in the store.

    Returns:
        (dataset, store, order): the data set, its open store, and the item ids in review order.
    """
    ds = load(cfg.dataset)
    store = Store(ds.path / DB_NAME, [it["id"] for it in ds.items])
    ids = [it["id"] for it in ds.items]
    if 0 < cfg.sample < 1:
        order = sample.sample_ids(ids, cfg.sample, cfg.seed)
        store.set_meta("sample", {"fraction": cfg.sample, "seed": cfg.seed, "ids": order})
    else:
        order = ids
    return ds, store, order


def build(cfg: ReviewConfig, token: str | None):
    """The review app for the config: data set, store and order from :func:`prepare`, export folder set.

    Args:
        cfg: the review's settings.
        token: the session token, or None for no token check.

    Returns:
        The FastAPI app.
    """
    from distill.review.app import create_app

    ds, store, order = prepare(cfg)
    out = cfg.out or ExportConfig(dataset=cfg.dataset).default_out
    return create_app(ds, store, token=token, out=out, order=order, sampled=0 < cfg.sample < 1)


class ReviewResult(Result):
    """What `distill review` returns when the page is closed: where it ran and the decisions so far."""

    dataset: str
    host: str
    port: int
    decisions: dict

    def summary(self) -> str:
        return f"review of {self['dataset']} closed; decisions so far: {self['decisions']}"


def run(cfg: ReviewConfig) -> ReviewResult:
    """Serve until interrupted (Ctrl-C); returns where it was served and the decisions' counts.

    Args:
        cfg: the review's settings; ``token`` True makes a random session token (shown in the URL).

    Returns:
        {"dataset", "host", "port", "decisions"}: decisions counted by status.
    """
    import uvicorn

    from distill.serve.server import bind

    token = secrets.token_urlsafe(24) if cfg.token else None
    app = build(cfg, token)
    sock = bind(cfg.host, cfg.port)
    port = sock.getsockname()[1]
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    # stderr, so that --json output on stdout stays clean; flushed so that scripts can wait for it
    print(f"reviewing {app.state.dataset.path} ({len(app.state.dataset.items)} items) at {url} — Ctrl-C stops",
          file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    counts = {}
    for d in app.state.store.all().values():
        counts[d["status"]] = counts.get(d["status"], 0) + 1
    app.state.store.close()
    return ReviewResult(dataset=str(app.state.dataset.path), host=cfg.host, port=port, decisions=counts)

import sqlite3
import threading

import pytest

from distill.review.store import Conflict, Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "review.sqlite", ["a", "b", "c"])
    yield s
    s.close()


def test_new_items_are_pending_at_version_zero(store):
    assert store.all() == {i: {"status": "pending", "edits": {}, "version": 0} for i in "abc"}


def test_a_save_from_an_old_version_is_refused_not_applied(store):
    v = store.decide("a", "approved", 0)
    assert v == 1
    # a second tab drew the page at version 0 and now rejects: refused, the approval stays
    with pytest.raises(Conflict) as e:
        store.decide("a", "rejected", 0)
    assert e.value.current == {"status": "approved", "edits": {}, "version": 1}
    assert store.get("a")["status"] == "approved"
    assert store.decide("a", "edited", 1, {"answer": "fixed"}) == 2
    assert store.get("a") == {"status": "edited", "edits": {"answer": "fixed"}, "version": 2}


def test_concurrent_saves_of_one_version_let_exactly_one_through(store):
    results = []

    def save(status):
        try:
            store.decide("b", status, 0)
            results.append(status)
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=save, args=(s,)) for s in ["approved", "rejected"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("conflict") == 7
    winner = next(r for r in results if r != "conflict")
    assert store.get("b") == {"status": winner, "edits": {}, "version": 1}


def test_two_stores_on_one_file_also_refuse_the_stale_save(tmp_path, store):
    other = Store(tmp_path / "review.sqlite")  # another process, as far as SQLite is concerned
    other.decide("c", "rejected", 0)
    with pytest.raises(Conflict):
        store.decide("c", "approved", 0)
    other.close()


def test_undo_walks_back_through_the_history_and_keeps_it(store):
    store.decide("a", "approved", 0)
    store.decide("b", "rejected", 0)
    store.decide("a", "edited", 1, {"question": "q2"})
    assert store.undo() == "a"
    assert store.get("a") == {"status": "approved", "edits": {}, "version": 3}  # undo moves the version on
    assert store.undo() == "b"
    assert store.get("b")["status"] == "pending"
    assert store.undo() == "a"
    assert store.get("a")["status"] == "pending"
    assert store.undo() is None
    hist = store.history()
    assert [h["action"] for h in hist] == ["decide"] * 3 + ["undo"] * 3  # appended, never deleted
    assert [h["undoes"] for h in hist[3:]] == [3, 2, 1]


def test_a_tab_showing_an_undone_decision_cannot_save_over_the_undo(store):
    store.decide("a", "approved", 0)
    store.undo()
    with pytest.raises(Conflict):
        store.decide("a", "rejected", 1)


def test_decisions_are_on_disk_at_once(tmp_path, store):
    store.decide("a", "edited", 0, {"answer": "<b>new</b>"})
    # a plain sqlite3 connection opened now (as after a crash and restart) sees the committed row
    row = sqlite3.connect(tmp_path / "review.sqlite").execute(
        "SELECT status, edits, version FROM decisions WHERE item_id = 'a'").fetchone()
    assert row == ("edited", '{"answer": "<b>new</b>"}', 1)
    assert Store(tmp_path / "review.sqlite").get("a")["edits"] == {"answer": "<b>new</b>"}
    assert sqlite3.connect(tmp_path / "review.sqlite").execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_bad_status_or_field_is_refused(store):
    with pytest.raises(ValueError, match="status must be one of"):
        store.decide("a", "maybe", 0)
    with pytest.raises(ValueError, match="can be edited"):
        store.decide("a", "edited", 0, {"chunk_id": "x"})
    assert store.get("a")["version"] == 0


def test_status_cache_follows_own_writes_and_other_connections(tmp_path, store):
    assert dict(store.statuses()) == {"a": "pending", "b": "pending", "c": "pending"}
    store.decide("a", "approved", 0)
    assert store.statuses()["a"] == "approved"
    other = Store(tmp_path / "review.sqlite")
    other.decide("b", "rejected", 0)
    assert store.statuses()["b"] == "rejected"  # another connection's commit reloads the cache
    assert store.undo() == "b"  # the history is the file's: the latest decision, whoever made it
    assert store.statuses()["b"] == "pending"
    other.close()

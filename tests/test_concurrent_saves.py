"""One sheet, one writer: two tabs, a busy database, a close, and receipts.

The race tests run the app under a real multi-threaded server and send each pair of
sheets at the same moment from two "tabs" (two HTTP clients sharing one cookie jar, as
two tabs of a browser do), many times, on whichever database the suite runs on.
"""

from __future__ import annotations

import http.cookiejar
import random
import re
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from delphi import extensions
from delphi.extensions import db, write_transaction
from delphi.models import OutboxMessage, Rating, Response, Study, Suggestion, utcnow
from delphi.rounds import operations as round_ops

from .browser import LiveServer
from .flows import counts, launch, link_for_panellist, open_link, page_fields, path_of

PAIRS = 25


@pytest.fixture
def running(factory):
    study = factory.study()
    panel = factory.panel(study, per_group=1)
    launch(study, utcnow() + timedelta(days=7))
    return study, panel


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):  # type: ignore[no-untyped-def]
        return None  # a 302 comes back as the answer, as the test wants to see it


class Tab:
    """One browser tab: its own page, the browser's shared cookies."""

    def __init__(self, base: str, jar: http.cookiejar.CookieJar) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                                  _NoRedirect)
        self.fields: dict[str, str] = {}

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, body, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as answer:
            return answer.code, answer.read().decode()

    def load(self) -> None:
        status, html = self.request("/vote")
        assert status == 200, status
        self.fields = {name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)
                       for name in ("csrf_token", "round", "sheet_version")}


def _tabs(server: LiveServer, study: Study, panellist_id: int) -> tuple[Tab, Tab]:
    jar = http.cookiejar.CookieJar()
    first, second = Tab(server.url, jar), Tab(server.url, jar)
    status, _ = first.request(path_of(link_for_panellist(study, panellist_id)))
    assert status == 302
    return first, second


def _stored(study: Study, panellist_id: int) -> dict[str, str]:
    """The panellist's stored sheet, as form fields."""
    db.session.commit()  # see what the server committed
    out = {}
    for r in db.session.scalars(sa.select(Rating).where(Rating.panellist_id == panellist_id)):
        if r.is_uts or r.value is not None:
            out[f"rating-{r.item_id}"] = "uts" if r.is_uts else str(r.value)
        if r.comment:
            out[f"comment-{r.item_id}"] = r.comment
    return out


def _race(server, study, panellist_id, sheets_for) -> list[tuple[int, int]]:
    """Send PAIRS pairs of different sheets at once from two tabs; check every outcome."""
    tabs = _tabs(server, study, panellist_id)
    outcomes = []
    for n in range(PAIRS):
        sheets = sheets_for(n)
        assert sheets[0] != sheets[1]
        for tab in tabs:
            tab.load()
        barrier = threading.Barrier(2)
        answers: list[tuple[int, str] | None] = [None, None]

        def send(k: int, barrier=barrier, answers=answers, sheets=sheets) -> None:
            barrier.wait()
            answers[k] = tabs[k].request("/vote", tabs[k].fields | sheets[k] |
                                         {"action": "save"})

        threads = [threading.Thread(target=send, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = [a[0] for a in answers]
        assert 500 not in statuses and 503 not in statuses, (n, statuses)
        stored = _stored(study, panellist_id)
        assert stored in sheets, (n, stored, sheets)  # never a mix of the two
        winner = sheets.index(stored)
        loser = 1 - winner
        # The winner was acknowledged; the loser was told, and nothing of it was kept.
        assert statuses[winner] == 302, (n, statuses)
        assert statuses[loser] == 409, (n, statuses)
        assert "changed in another tab or window" in answers[loser][1]
        outcomes.append((statuses[0], statuses[1]))
    return outcomes


def test_two_tabs_saving_different_sheets_at_once_store_exactly_one(app, running,
                                                                     live_server):
    study, panel = running
    items = [i.id for i in study.items]
    rng = random.Random(11)

    def sheets_for(n: int) -> tuple[dict[str, str], dict[str, str]]:
        a = {f"rating-{i}": str(rng.randint(1, 9)) for i in items}
        b = {f"rating-{i}": str(rng.randint(1, 9)) for i in items}
        a[f"comment-{items[0]}"] = f"tab one, pair {n}"
        b[f"comment-{items[1]}"] = f"tab two, pair {n}"
        return a, b

    _race(live_server, study, panel[0].id, sheets_for)


def test_two_tabs_racing_with_blank_answers_store_exactly_one(app, running, live_server):
    """A blank answer deletes a stored row: the same race once deadlocked and answered 500."""
    study, panel = running
    items = [i.id for i in study.items]

    def sheets_for(n: int) -> tuple[dict[str, str], dict[str, str]]:
        full = {f"rating-{i}": str(1 + (n + k) % 9) for k, i in enumerate(items)}
        blanks = {f"rating-{i}": "uts" for i in items[::2]}  # the others left blank
        blanks[f"comment-{items[0]}"] = f"pair {n}"  # so that each pair changes the sheet
        return (full, blanks) if n % 2 else (blanks, full)

    _race(live_server, study, panel[0].id, sheets_for)


def test_a_save_from_an_outdated_tab_is_refused_and_keeps_what_was_typed(app, running):
    study, panel = running
    items = study.items
    tab_a, tab_b = app.test_client(), app.test_client()
    for tab in (tab_a, tab_b):
        open_link(tab, link_for_panellist(study, panel[0].id))
    fields_a, fields_b = page_fields(tab_a), page_fields(tab_b)
    a = {f"rating-{items[0].id}": "8", f"comment-{items[0].id}": "from the laptop"}
    b = {f"rating-{items[0].id}": "2", f"comment-{items[1].id}": "typed on the phone",
         "action": "save"}
    assert tab_a.post("/vote", data=fields_a | a | {"action": "save"}).status_code == 302
    before = counts()
    refused = tab_b.post("/vote", data=fields_b | b)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    saved_at = db.session.scalar(sa.select(Response.updated_at))
    assert (f"Your answers were changed in another tab or window at {saved_at:%H:%M} UTC; "
            "here is what is saved now") in html
    # the form shows what is saved now; what tab B typed is listed in full, nothing lost
    assert f'name="rating-{items[0].id}" value="8" checked' in html
    assert "from the laptop" in html and "typed on the phone" in html
    assert (f"Statement {items[0].label}: you had rating 2 here; saved now: rating 8, "
            "comment “from the laptop”.") in html
    assert counts() == before and _stored(study, panel[0].id) == {
        f"rating-{items[0].id}": "8", f"comment-{items[0].id}": "from the laptop"}
    # the refreshed page now carries the current version: saving from it is accepted
    version = re.search(r'name="sheet_version" value="([^"]+)"', html).group(1)
    again = tab_b.post("/vote", data=fields_b | b | {"sheet_version": version})
    assert again.status_code == 302
    assert _stored(study, panel[0].id)[f"rating-{items[0].id}"] == "2"


def test_the_same_tab_keeps_autosaving_and_saving_with_the_page_it_has(app, running):
    """Autosave then Save from one page, without updating its version: its own changes
    never conflict with each other; an outdated tab's autosave is told, in JSON."""
    study, panel = running
    items = study.items
    tab, other = app.test_client(), app.test_client()
    for t in (tab, other):
        open_link(t, link_for_panellist(study, panel[0].id))
    fields, other_fields = page_fields(tab), page_fields(other)
    for value in ("3", "4", "5"):
        answer = tab.post("/vote", data=fields | {f"rating-{items[0].id}": value,
                                                  "action": "autosave"})
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["sheet_version"].startswith(f"{int(value) - 2}-")
    assert tab.post("/vote", data=fields | {f"rating-{items[0].id}": "6",
                                            "action": "submit"}).status_code == 302
    stale = other.post("/vote", data=other_fields | {f"rating-{items[0].id}": "1",
                                                     "action": "autosave"})
    assert stale.status_code == 409
    assert stale.get_json()["conflict"] is True
    assert "changed in another tab or window" in stale.get_json()["errors"]["sheet_version"]
    # a second tab that sends exactly what is saved is not a conflict (a double click)
    same = other.post("/vote", data=other_fields | {f"rating-{items[0].id}": "6",
                                                    "action": "submit"})
    assert same.status_code == 302
    assert _stored(study, panel[0].id) == {f"rating-{items[0].id}": "6"}


def test_a_damaged_version_mark_is_refused_with_a_message(client, running):
    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    before = counts()
    answer = client.post("/vote", data=page_fields(client) | {
        "sheet_version": "7-not-a-mark", f"rating-{study.items[0].id}": "4",
        "action": "save"})
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "version mark is damaged" in html and 'value="4" checked' in html
    assert counts() == before


# -- a busy database ---------------------------------------------------------------------

@pytest.fixture
def sqlite_path(app, monkeypatch):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("holds SQLite's write lock from another connection")
    monkeypatch.setattr(extensions, "SQLITE_BUSY_TIMEOUT_MS", 200)
    db.session.commit()
    db.engine.dispose()  # new connections take the short busy timeout
    yield db.engine.url.database
    db.session.commit()
    db.engine.dispose()


def test_a_save_while_another_process_holds_the_write_lock_says_busy(client, running,
                                                                     sqlite_path):
    study, panel = running
    item = study.items[0]
    open_link(client, link_for_panellist(study, panel[0].id))
    fields = page_fields(client)
    before = counts()
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        typed = {f"rating-{item.id}": "6", f"comment-{item.id}": "typed on the train"}
        answer = client.post("/vote", data=fields | typed | {"action": "submit"})
        html = answer.get_data(as_text=True)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert ("The platform is busy; nothing you typed is lost: press Save again in a "
                "moment.") in html
        assert f'name="rating-{item.id}" value="6" checked' in html
        assert "typed on the train" in html
        auto = client.post("/vote", data=fields | typed | {"action": "autosave"})
        assert auto.status_code == 503
        assert auto.get_json()["errors"]["database"].startswith("The platform is busy")
    finally:
        other.rollback()
        other.close()
    assert counts() == before
    assert client.post("/vote", data=fields | typed | {"action": "submit"}).status_code == 302


# -- a close racing a save -----------------------------------------------------------------

def test_answers_accepted_while_a_close_waits_carry_times_before_the_close(app, running):
    """The close records the time at which it got the round, after every accepted save.

    The close starts first and is held just before it locks the round; a save then
    takes the round (a share lock on PostgreSQL, the write lock on SQLite) and commits
    while the close waits for it.
    """
    study, panel = running
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    fields = page_fields(client)
    ratings = {f"rating-{i.id}": "7" for i in study.items}
    study_id = study.id
    postgres = db.engine.dialect.name == "postgresql"
    go_save, save_has_round = threading.Event(), threading.Event()
    threads = {}

    def watch(conn, cursor, statement, *_args):
        me = threading.current_thread()
        if me is threads.get("close") and not go_save.is_set():
            takes_round = ("FOR UPDATE" in statement or statement.startswith("UPDATE round")) \
                if postgres else statement.startswith("BEGIN IMMEDIATE")
            if takes_round:
                go_save.set()
                save_has_round.wait(10)

    def taken(conn, cursor, statement, *_args):
        if threading.current_thread() is threads.get("save") and (
                "FOR SHARE" in statement if postgres else
                statement.startswith("BEGIN IMMEDIATE")):
            save_has_round.set()

    outcome = {}

    def close() -> None:
        with app.app_context():
            fresh = db.session.get(Study, study_id)
            db.session.commit()  # as in the console, the study is read before the close
            with write_transaction():
                round_ops.close_round(fresh, "test")
                db.session.commit()

    def save() -> None:
        go_save.wait(10)
        outcome["save"] = client.post("/vote", data=fields | ratings |
                                      {"action": "submit"}).status_code

    threads["close"] = threading.Thread(target=close)
    threads["save"] = threading.Thread(target=save)
    event.listen(db.engine, "before_cursor_execute", watch)
    event.listen(db.engine, "after_cursor_execute", taken)
    try:
        for t in threads.values():
            t.start()
        for t in threads.values():
            t.join(30)
    finally:
        event.remove(db.engine, "before_cursor_execute", watch)
        event.remove(db.engine, "after_cursor_execute", taken)
    assert outcome["save"] == 302
    db.session.commit()  # a fresh snapshot: see what the threads committed
    rnd = study.rounds[0]
    response = db.session.scalar(sa.select(Response))
    assert response.submitted_at <= rnd.closed_at
    assert all(r.updated_at <= rnd.closed_at for r in db.session.scalars(sa.select(Rating)))


# -- receipts --------------------------------------------------------------------------------

def _receipts() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "receipt"))


def test_one_receipt_per_submitted_version_of_the_sheet(client, running):
    study, panel = running
    items = study.items
    open_link(client, link_for_panellist(study, panel[0].id))
    sheet = {f"rating-{items[0].id}": "7", f"rating-{items[1].id}": "3"}

    def submit(extra: dict[str, str]) -> None:
        answer = client.post("/vote", data=page_fields(client) | extra | {"action": "submit",
                                                                          "confirmed": "1"})
        assert answer.status_code == 302

    submit(sheet)
    assert _receipts() == 1
    submit(sheet)  # the same answers again: no second receipt
    assert _receipts() == 1
    submit(sheet | {f"rating-{items[1].id}": "4"})  # changed answers: a receipt for them
    assert _receipts() == 2
    # a draft save then a submit of that same sheet is a first submission of it: one
    client.post("/vote", data=page_fields(client) | sheet | {"action": "save"})
    submit(sheet)
    assert _receipts() == 3
    submit(sheet)
    assert _receipts() == 3


def test_suggestions_count_as_part_of_the_sheet(client, running):
    study, panel = running
    tab_b = client.application.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    open_link(tab_b, link_for_panellist(study, panel[0].id))
    fields_b = page_fields(tab_b)
    client.post("/vote", data=page_fields(client) | {"suggestion": "School attendance",
                                                    "action": "save"})
    answer = tab_b.post("/vote", data=fields_b | {"suggestion": "Sleep", "action": "save"})
    assert answer.status_code == 409
    assert "Your suggestion here: “Sleep”" in answer.get_data(as_text=True)
    assert db.session.scalars(sa.select(Suggestion.text)).all() == ["School attendance"]


# -- lost races are retried, never a 500 ----------------------------------------------------

class _Deadlock(Exception):
    sqlstate = "40P01"  # as psycopg reports a deadlock


def _flaky_save(monkeypatch, failures: list[BaseException]) -> list[int]:
    """Make the first saves fail with ``failures``, one each, as a lost race would."""
    from delphi.panel import views

    calls: list[int] = []
    real = views.save_sheet

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        response = real(*args, **kwargs)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return response

    monkeypatch.setattr(views, "save_sheet", flaky)
    return calls


def test_a_deadlock_or_a_stale_row_is_retried_and_the_save_lands(client, running,
                                                                  monkeypatch):
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm.exc import StaleDataError

    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    fields = page_fields(client)
    calls = _flaky_save(monkeypatch, [
        StaleDataError("DELETE statement on table 'rating' expected to delete 1 row(s); "
                       "0 were matched."),
        OperationalError("INSERT INTO rating", {}, _Deadlock("deadlock detected"))])
    answer = client.post("/vote", data=fields | {f"rating-{study.items[0].id}": "5",
                                                 "action": "submit", "confirmed": "1"})
    assert answer.status_code == 302
    assert len(calls) == 3
    assert _stored(study, panel[0].id) == {f"rating-{study.items[0].id}": "5"}
    assert _receipts() == 1  # the failed attempts left nothing behind


def test_a_race_lost_every_time_says_busy_instead_of_a_500(client, running, monkeypatch):
    from sqlalchemy.orm.exc import StaleDataError

    study, panel = running
    open_link(client, link_for_panellist(study, panel[0].id))
    fields = page_fields(client)
    _flaky_save(monkeypatch, [StaleDataError("lost")] * 10)
    before = counts()
    answer = client.post("/vote", data=fields | {f"rating-{study.items[0].id}": "5",
                                                 "action": "save"})
    assert answer.status_code == 503
    assert "The platform is busy; nothing you typed is lost" in answer.get_data(as_text=True)
    assert counts() == before


@pytest.mark.browser
def test_two_tabs_in_a_real_browser_the_outdated_one_is_told(app, browser, live_server,
                                                             running):
    """Tab A saves; tab B, drawn before, is told when it saves, and its page then shows
    A's sheet without mixing B's typing back in from what the device kept."""
    study, panel = running
    items = study.items
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab_a = context.new_page()
    tab_a.goto(live_server.url + path_of(link_for_panellist(study, panel[0].id)))
    tab_b = context.new_page()
    tab_b.goto(live_server.url + "/vote")
    tab_a.locator(f'#item-{items[0].id} input[value="8"]').check()
    tab_a.get_by_role("button", name="Save for later").click()
    tab_a.locator(".flash", has_text="Saved:").wait_for()
    tab_b.locator(f'#item-{items[0].id} input[value="2"]').check()
    tab_b.locator(f"#item-{items[1].id} details.comment summary").click()
    tab_b.fill(f"#comment-{items[1].id}", "typed in the second tab")
    tab_b.get_by_role("button", name="Save for later").click()
    tab_b.locator("#errors").wait_for()
    text = tab_b.locator("#errors").inner_text()
    assert "changed in another tab or window" in text
    assert "comment “typed in the second tab”" in text
    assert tab_b.locator(f'#item-{items[0].id} input[value="8"]').is_checked()
    # what the device kept of tab B's typing is not put back into A's sheet unasked
    assert tab_b.input_value(f"#comment-{items[1].id}") == ""
    assert "Restored" not in tab_b.locator("#autosave-status").inner_text()
    assert _stored(study, panel[0].id) == {f"rating-{items[0].id}": "8"}
    context.close()

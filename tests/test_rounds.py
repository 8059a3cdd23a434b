"""Round lifecycle from the console and the CLI: launch, close, remind, deadlines."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import (
    AuditEvent,
    DomainError,
    ItemStatus,
    MailStatus,
    OutboxMessage,
    RoundResult,
    RoundState,
    StudyState,
    utcnow,
)
from delphi.results import tables
from delphi.rounds import operations as round_ops

from .conftest import csrf_token, login
from .flows import close, confirm_in_console, launch, link_for_panellist, open_link, vote


def test_launch_freezes_items_locks_settings_and_queues_one_invitation_each(factory):
    study = factory.study()
    panel = factory.panel(study)
    rnd = launch(study, utcnow() + timedelta(days=14))
    assert rnd.state is RoundState.OPEN and rnd.number == 1
    assert [i.key for i in rnd.items] == ["a-01", "a-02", "b-01"]
    assert study.consensus.locked_at is not None
    assert study.state is StudyState.RUNNING
    messages = db.session.scalars(sa.select(OutboxMessage)).all()
    assert sorted(m.to_address for m in messages) == sorted(p.email for p in panel)
    assert all(m.kind == "invitation" and m.status is MailStatus.PENDING for m in messages)
    # an item added to the study afterwards does not enter the running round
    study.items[0].status = ItemStatus.DROPPED
    db.session.commit()
    assert len(rnd.items) == 3


def test_launch_is_refused_while_a_round_is_open_or_without_a_panel(factory):
    study = factory.study()
    with pytest.raises(DomainError, match="panel is empty"):
        round_ops.launch_round(study, "test")
    db.session.rollback()
    factory.panel(study)
    launch(study)
    with pytest.raises(DomainError, match="still open"):
        round_ops.launch_round(study, "test")


def test_queue_has_a_dedupe_key_so_relaunching_never_sends_twice(factory):
    from delphi import mail

    study = factory.study()
    panellist = factory.panel(study, per_group=1)[0]
    rnd = launch(study)
    invitation = rnd.invitations[0]
    again = mail.queue("invitation", panellist, study, f"invitation:{rnd.id}:{panellist.id}",
                       invitation)
    assert again is None


def test_close_stores_the_results_once_and_refuses_a_second_close(factory, client):
    study = factory.study()
    panel = factory.panel(study)
    launch(study)
    for p in panel[:4]:
        open_link(client, link_for_panellist(study, p.id))
        assert vote(client, {i.id: 8 for i in study.items}).status_code == 302
    rnd = close(study)
    assert rnd.state is RoundState.CLOSED
    result = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))
    pooled = [r for r in result.data["items"] if r["group"] is None]
    assert {r["item"] for r in pooled} == {"a-01", "a-02", "b-01"}
    assert all(r["n_valid"] == 4 and r["median"] == 8 for r in pooled)
    assert all(r["n_invited"] == 6 for r in pooled)
    with pytest.raises(DomainError, match="no round is open"):
        round_ops.close_round(study, "test")


def test_a_round_closes_by_itself_at_its_deadline(factory, runner):
    study = factory.study()
    factory.panel(study)
    rnd = launch(study, utcnow() + timedelta(hours=1))
    assert round_ops.close_due_rounds(utcnow()) == []
    closed = round_ops.close_due_rounds(utcnow() + timedelta(hours=2))
    db.session.commit()
    assert [r.number for _, r in closed] == [1]
    assert rnd.state is RoundState.CLOSED
    actors = db.session.scalars(sa.select(AuditEvent.actor).where(
        AuditEvent.action == "round.closed")).all()
    assert actors == ["system:deadline"]


def test_remind_queues_only_to_those_who_have_not_submitted(factory, client):
    study = factory.study()
    panel = factory.panel(study)
    launch(study)
    open_link(client, link_for_panellist(study, panel[0].id))
    vote(client, {i.id: 7 for i in study.items})
    open_link(client, link_for_panellist(study, panel[1].id))
    vote(client, {study.items[0].id: 7}, action="save")  # a draft only: still reminded
    count = round_ops.remind(study, "test")
    db.session.commit()
    reminded = db.session.scalars(sa.select(OutboxMessage.to_address).where(
        OutboxMessage.kind == "reminder")).all()
    assert count == 5
    assert panel[0].email not in reminded and panel[1].email in reminded


def test_the_cli_launches_reminds_and_closes(factory, runner):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    factory.panel(study)
    who = ["--as", owner.email]
    result = runner.invoke(args=["launch-round", study.slug, "--closes-at",
                                 "2099-01-01T17:00Z"] + who)
    assert result.exit_code == 0, result.output
    assert "6 invitations queued" in result.output
    result = runner.invoke(args=["launch-round", study.slug] + who)
    assert result.exit_code == 1 and "still open" in result.output
    result = runner.invoke(args=["remind", study.slug] + who)
    assert result.exit_code == 0 and "6 reminders queued" in result.output
    result = runner.invoke(args=["close-round", study.slug] + who)
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["launch-round", study.slug, "--closes-at", "yesterday"] + who)
    assert result.exit_code == 1 and "ISO-8601" in result.output


def test_console_buttons_launch_remind_and_close(client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    factory.panel(study)
    login(client, owner.email)
    url = f"/studies/{study.slug}/rounds/"
    page = client.get(url).get_data(as_text=True)
    assert "Launch round 1" in page
    response = confirm_in_console(client, f"/studies/{study.slug}/rounds/launch",
                                  "closes_at=2099-03-01T12%3A00")
    assert "Round 1 is open" in response.get_data(as_text=True)
    assert study.rounds[0].closes_at.isoformat().startswith("2099-03-01T12:00")
    token = csrf_token(client, url)
    response = client.post(f"/studies/{study.slug}/rounds/remind", data={"csrf_token": token},
                           follow_redirects=True)
    assert "6 reminders are in the outbox" in response.get_data(as_text=True)
    response = confirm_in_console(client, f"/studies/{study.slug}/rounds/close")
    assert "Round 1 is closed" in response.get_data(as_text=True)
    results = client.get(f"/studies/{study.slug}/rounds/1/results")
    assert results.status_code == 200
    assert "a-01" in results.get_data(as_text=True)


def test_console_buttons_need_post_with_csrf(client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    factory.panel(study)
    login(client, owner.email)
    assert client.put(f"/studies/{study.slug}/rounds/launch").status_code == 405
    assert client.post(f"/studies/{study.slug}/rounds/launch").status_code == 400
    assert client.post(f"/studies/{study.slug}/rounds/launch",
                       data={"confirmed": "yes"}).status_code == 400
    assert study.rounds == []


def _outbox_size() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))


def test_launching_asks_first_and_says_what_it_will_send(client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    factory.panel(study)
    login(client, owner.email)
    launch_url = f"/studies/{study.slug}/rounds/launch"
    page = client.get(launch_url + "?closes_at=2099-03-01T12%3A00").get_data(as_text=True)
    assert "Launch round 1?" in page
    assert "3 statements will be sent to 6 panellists" in page
    assert "01 March 2099 at 12:00 UTC" in page
    assert "locks the consensus settings" in page
    assert study.rounds == [] and _outbox_size() == 0  # reading it changes nothing
    # the old one-click POST, without the confirmation: refused with a message
    token = csrf_token(client, f"/studies/{study.slug}/rounds/")
    refused = client.post(launch_url, data={"csrf_token": token,
                                            "closes_at": "2099-03-01T12:00"})
    assert refused.status_code == 303
    assert refused.headers["Location"].endswith(launch_url + "?closes_at=2099-03-01T12:00")
    assert study.rounds == [] and _outbox_size() == 0
    again = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "Nothing was changed" in again and "3 statements will be sent" in again
    # a bad closing time is said on the rounds page, before any confirmation
    bad = client.get(launch_url + "?closes_at=tomorrow", follow_redirects=True)
    assert "not a valid date and time" in bad.get_data(as_text=True)


def test_launching_round_two_lists_undecided_and_consensus_out_statements(app, client, factory):
    from delphi.decisions import operations as decision_ops
    from delphi.models import DropOutcome

    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    launch(study)
    first, second, third = study.items
    for panellist in panel:  # a-01 consensus in, a-02 consensus out, b-01 no consensus
        voter = app.test_client()
        open_link(voter, link_for_panellist(study, panellist.id))
        vote(voter, {first.id: 8, second.id: 2, third.id: 5})
    close(study)
    decision_ops.drop(study, first, DropOutcome.CONSENSUS_IN, "in at round 1", owner)
    db.session.commit()
    login(client, owner.email)
    page = client.get(f"/studies/{study.slug}/rounds/launch").get_data(as_text=True)
    assert "Launch round 2?" in page
    assert "2 statements will be sent to 6 panellists" in page
    undecided = page[page.index('id="undecided"'):]
    undecided = undecided[:undecided.index("</ul>")]
    assert "a-02" in undecided and "b-01" in undecided and "a-01" not in undecided
    out = page[page.index('id="consensus-out"'):]
    out = out[:out.index("</ul>")]
    assert "a-02" in out and "b-01" not in out
    assert '1 "consensus out" statement would be carried' in page
    assert len(study.rounds) == 1


def test_closing_asks_first_and_counts_the_answers_it_keeps(app, client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    launch(study)
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, panel[0].id))
    vote(voter, {i.id: 7 for i in study.items})
    drafter = app.test_client()
    open_link(drafter, link_for_panellist(study, panel[1].id))
    vote(drafter, {study.items[0].id: 7}, action="save")
    login(client, owner.email)
    close_url = f"/studies/{study.slug}/rounds/close"
    page = client.get(close_url).get_data(as_text=True)
    assert "Close round 1?" in page
    assert "1 of 6 panellists have submitted" in page
    assert "1 panellist has a saved draft that is not submitted: it does not count" in page
    token = csrf_token(client, f"/studies/{study.slug}/rounds/")
    refused = client.post(close_url, data={"csrf_token": token}, follow_redirects=True)
    assert "Nothing was changed" in refused.get_data(as_text=True)
    db.session.refresh(study.rounds[0])
    assert study.rounds[0].state is RoundState.OPEN
    done = confirm_in_console(client, close_url)
    assert "Round 1 is closed" in done.get_data(as_text=True)
    db.session.refresh(study.rounds[0])
    assert study.rounds[0].state is RoundState.CLOSED
    # nothing open: the confirmation page says so on the rounds page
    again = client.get(close_url, follow_redirects=True).get_data(as_text=True)
    assert "No round is open" in again


def test_the_study_page_shows_the_round_progress_and_the_outbox(client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    login(client, owner.email)
    assert "launch round 1" in client.get(f"/studies/{study.slug}/").get_data(as_text=True)
    launch(study, utcnow() + timedelta(days=3))
    voter = client.application.test_client()
    open_link(voter, link_for_panellist(study, panel[0].id))
    vote(voter, {i.id: 7 for i in study.items})
    page = client.get(f"/studies/{study.slug}/").get_data(as_text=True)
    assert "1 of 6 panellists have submitted" in page
    assert "7 pending" in page  # six invitations and one receipt


def test_the_fast_table_at_close_equals_the_long_format_records(app, factory):
    import numpy as np

    from delphi.consensus.table import RatingsTable

    from .test_feedback import _round_one

    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)  # UTS, unanswered items, comments
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[2].id))
    vote(client, {study.items[0].id: 9}, action="save")  # a draft: must not count
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[3].id))
    vote(client, {study.items[1].id: "uts", study.items[2].id: 4})
    close(study)
    fast = tables.study_table(study, 2)
    slow = RatingsTable.from_records(tables.study_records(study, 2))
    assert (fast.rounds, fast.panellists, fast.groups) == (slow.rounds, slow.panellists,
                                                          slow.groups)
    assert sorted(fast.items) == sorted(slow.items)
    order = [fast.items.index(label) for label in slow.items]
    assert np.array_equal(fast.values[:, order, :], slow.values)
    assert np.array_equal(fast.group_of, slow.group_of)

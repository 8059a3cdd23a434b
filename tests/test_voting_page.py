"""The voting page by design: what everyone sees is stored once per round, what is a
panellist's own is read per view and never shared; the form is a WTForms form under
Flask-WTF's CSRF protection."""

from __future__ import annotations

import sqlalchemy as sa

from delphi.extensions import csrf, db
from delphi.models import Rating, Response, StatementBlock
from delphi.results import blocks as feedback
from delphi.uow import unit_of_work

from .flows import close, counts, launch, link_for_panellist, open_link, page_fields, vote
from .test_feedback import _round_one


def _round_two(app, factory):
    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)
    second = launch(study)
    return study, panel, second


def _page(app, study, panellist):
    client = app.test_client()
    open_link(client, link_for_panellist(study, panellist.id))
    return client, client.get("/vote").get_data(as_text=True)


def test_two_panellists_never_see_each_others_answers_comments_or_reasons(app, factory):
    study, panel, _ = _round_two(app, factory)
    first, second = study.items[0], study.items[1]
    # panellist 0 rated the first statement 8 in round 1, panellist 5 rated it 2
    alice, alice_page = _page(app, study, panel[0])
    bob, bob_page = _page(app, study, panel[5])
    assert f'id="item-{first.id}" data-own-at="8"' in alice_page
    assert f'id="item-{first.id}" data-own-at="2"' in bob_page
    # Alice saves a draft with a comment and a reason; Bob opens his page afterwards
    vote(alice, {first.id: 3}, action="save", extra={
        f"comment-{first.id}": "Alice private draft comment",
        f"reason-{second.id}": "Alice private reason"})
    bob_page = bob.get("/vote").get_data(as_text=True)
    alice_page = alice.get("/vote").get_data(as_text=True)
    assert "Alice private draft comment" in alice_page
    assert "Alice private reason" in alice_page
    assert "Alice private" not in bob_page
    assert 'value="3" checked' in alice_page and 'value="3" checked' not in bob_page
    assert "Your rating: <strong>2</strong>" in bob_page.split(f'id="item-{second.id}"')[0]
    assert "Your rating: <strong>8</strong>" not in bob_page.split(f'id="item-{second.id}"')[0]
    # and nothing of either is in what is stored for everyone
    stored = " ".join(h for row in db.session.execute(
        sa.select(StatementBlock.head_html, StatementBlock.feedback_html,
                  StatementBlock.groups_html)) for h in row)
    assert "Alice private" not in stored and "Your rating" not in stored
    assert "data-own" not in stored


def test_the_launch_stores_each_statement_once_and_a_view_only_reads_it(app, factory,
                                                                       monkeypatch):
    study, panel, second = _round_two(app, factory)
    rows = db.session.scalars(sa.select(StatementBlock).where(
        StatementBlock.round_id == second.id).order_by(StatementBlock.position)).all()
    assert [r.item_id for r in rows] == [i.id for i in second.items]
    assert all(r.locale == "en" and r.template_version == feedback.TEMPLATE_VERSION
               for r in rows)
    assert "Comment number 0 on the first" in rows[0].groups_html
    assert rows[0].feedback_item_id == study.items[0].id

    def fail(*_args, **_kwargs):
        raise AssertionError("the feedback was computed again on a page view")

    monkeypatch.setattr(feedback, "feedback_for_round", fail)
    monkeypatch.setattr(feedback, "render_statements", fail)
    _, html = _page(app, study, panel[0])
    assert "Comment number 0 on the first" in html and "median <strong>7.5</strong>" in html


def test_stored_rows_of_other_templates_are_not_used(app, factory):
    study, panel, second = _round_two(app, factory)
    db.session.execute(sa.update(StatementBlock).values(template_version="old",
                                                        groups_html="stale"))
    db.session.commit()
    _, html = _page(app, study, panel[0])
    assert "stale" not in html and "Comment number 0 on the first" in html


def test_rebuild_pages_renders_the_open_rounds_again_after_an_upgrade(app, factory, runner):
    study, panel, second = _round_two(app, factory)
    db.session.execute(sa.update(StatementBlock).values(template_version="old"))
    db.session.commit()
    result = runner.invoke(args=["rebuild-pages"])
    assert result.exit_code == 0, result.output
    assert "3 statements of 1 open rounds" in result.output
    db.session.expire_all()
    assert set(db.session.scalars(sa.select(StatementBlock.template_version).where(
        StatementBlock.round_id == second.id))) == {feedback.TEMPLATE_VERSION}


def test_rebuild_round_feedback_shows_a_moderated_comment_on_the_next_view(app, factory):
    study, panel, second = _round_two(app, factory)
    first_round = study.rounds[0]
    assert feedback.rebuild_round_feedback(second) == 0  # round 3 not launched: nothing
    with unit_of_work():
        rating = db.session.scalar(sa.select(Rating).where(
            Rating.comment == "Comment number 3 on the first"))
        rating.comment = "[removed by the study team]"
        db.session.flush()
        assert feedback.rebuild_round_feedback(first_round) == len(second.items)
    _, html = _page(app, study, panel[1])
    assert "Comment number 3 on the first" not in html
    assert "[removed by the study team]" in html


def test_the_panel_forms_are_not_exempt_from_csrf(app, factory):
    assert "panel" not in {getattr(bp, "name", bp) for bp in csrf._exempt_blueprints}
    study = factory.study()
    panel = factory.panel(study)
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    item = study.items[0]
    before = counts()
    # an autosave with a forged token: refused as JSON, nothing saved
    data = page_fields(client) | {"intent": "autosave", "csrf_token": "forged",
                                  f"rating-{item.id}": "7"}
    response = client.post("/vote", data=data)
    assert response.status_code == 400
    assert "press Save again" in response.get_json()["errors"]["csrf_token"]
    # no token at all, as a cross-site form would send: the page again, nothing saved
    data.pop("csrf_token")
    data["intent"] = "save"
    response = client.post("/vote", data=data)
    assert response.status_code == 400 and 'value="7" checked' in response.get_data(as_text=True)
    assert counts() == before
    # the panellist has no login, only the link's session: its token is accepted
    assert vote(client, {item.id: 7}, action="autosave").status_code == 200
    assert db.session.scalar(sa.select(Rating.value)) == 7


def test_bad_input_names_the_statement_and_saves_nothing(app, factory):
    study = factory.study()
    panel = factory.panel(study)
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    first, second = study.items[0], study.items[1]
    before = counts()
    for field, value, message in (
            (f"comment-{first.id}", "x" * 5001, f"The comment on statement {first.key} is "
                                               "5001 characters long; at most 5000"),
            (f"rating-{second.id}", "", None),
            (f"comment-{first.id}", "<script>alert(1)</script>", None)):
        data = page_fields(client) | {"intent": "save", f"rating-{first.id}": "11",
                                      field: value}
        response = client.post("/vote", data=data)
        html = response.get_data(as_text=True)
        assert response.status_code == 400
        assert f"statement {first.key}: &#39;11&#39; is not a point of the scale" in html
        assert f'href="#item-{first.id}"' in html
        if message:
            assert message in html
        assert "<script>alert(1)</script>" not in html
    assert counts() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0


def test_the_round_two_page_reads_a_fixed_number_of_queries(app, factory):
    study, panel, _ = _round_two(app, factory)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get("/vote").status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 6, selects  # the consent check is one of them
    close(study)


def test_a_reworded_statement_is_named_by_its_one_label_on_the_voting_page(app, factory):
    from delphi.decisions import operations as decisions
    from delphi.models import ItemStatus

    study = factory.study()
    panel = factory.panel(study)
    _round_one(app, study, panel)
    new = decisions.reword(study, study.items[0], "A clearer wording of the first statement",
                           "clearer", "test")
    others = [i for i in study.items if i.status is ItemStatus.ACTIVE and i.id != new.id]
    decisions.carry_forward(study, others, "no consensus yet", "test")
    db.session.commit()
    launch(study)
    client = app.test_client()
    open_link(client, link_for_panellist(study, panel[0].id))
    page = client.get("/vote").get_data(as_text=True)
    assert new.label == "a-01.v2" and new.label in page
    data = page_fields(client) | {"intent": "save", f"rating-{new.id}": "11"}
    html = client.post("/vote", data=data).get_data(as_text=True)
    assert f"statement {new.label}: &#39;11&#39; is not a point of the scale" in html
    assert "a-01 v2" not in html

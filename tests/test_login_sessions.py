"""Logging out ends the login session on the server: a copied cookie stops working."""

from __future__ import annotations

import sqlalchemy as sa

from delphi.extensions import db
from delphi.models import Facilitator, FacilitatorSession

from .conftest import csrf_token, login


def _copy_cookie(app, client):
    """Another browser holding a copy of ``client``'s session cookie, as it is now."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(name, cookie.value)
    return thief


def _open_sessions(facilitator_id: int) -> int:
    db.session.commit()
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(FacilitatorSession)
        .where(FacilitatorSession.facilitator_id == facilitator_id,
               FacilitatorSession.ended_at.is_(None)))


def test_a_cookie_copied_before_logout_gets_the_login_page(app, client, factory):
    owner = factory.facilitator()
    login(client, owner.email)
    copy = _copy_cookie(app, client)
    assert copy.get("/").status_code == 200  # the copy works while the session lives
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    response = copy.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _open_sessions(owner.id) == 0


def test_logging_out_ends_only_that_session(app, factory):
    owner = factory.facilitator()
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, owner.email)
    login(phone, owner.email)
    assert _open_sessions(owner.id) == 2
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/")})
    assert laptop.get("/").status_code == 302
    assert phone.get("/").status_code == 200
    assert _open_sessions(owner.id) == 1


def test_logout_everywhere_a_new_password_and_disabling_end_every_session(app, factory):
    owner = factory.facilitator()
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, owner.email)
    login(phone, owner.email)
    copies = [_copy_cookie(app, laptop), _copy_cookie(app, phone)]
    laptop.post("/logout-everywhere", data={"csrf_token": csrf_token(laptop, "/")})
    assert _open_sessions(owner.id) == 0
    assert [c.get("/").status_code for c in copies] == [302, 302]

    login(phone, owner.email)
    copy = _copy_cookie(app, phone)
    db.session.get(Facilitator, owner.id).set_password("a brand new password")
    db.session.commit()
    assert _open_sessions(owner.id) == 0
    assert copy.get("/").status_code == 302

    login(phone, owner.email, "a brand new password")
    assert phone.get("/").status_code == 200
    db.session.get(Facilitator, owner.id).disable()
    db.session.commit()
    assert _open_sessions(owner.id) == 0
    assert phone.get("/").status_code == 302


def test_ended_sessions_are_cleared_away_at_the_next_login(app, client, factory):
    owner = factory.facilitator()
    for _ in range(3):
        login(client, owner.email)
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, owner.email)
    db.session.commit()
    rows = db.session.scalars(sa.select(FacilitatorSession)
                              .where(FacilitatorSession.facilitator_id == owner.id)).all()
    assert len(rows) == 1 and rows[0].ended_at is None


def test_only_the_hash_of_the_session_secret_is_stored(app, client, factory):
    owner = factory.facilitator()
    login(client, owner.email)
    with client.session_transaction() as session:
        secret = session["_user_id"].split(":", 2)[2]
    db.session.commit()
    stored = db.session.scalars(sa.select(FacilitatorSession.secret_hash)).all()
    assert len(secret) >= 40 and secret not in stored
    assert stored == [FacilitatorSession.hash(secret)]

"""Security guarantees: headers, cookies, sessions, throttles, inert script, NUL characters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from delphi import create_app
from delphi.extensions import db
from delphi.models import Facilitator, Panellist

from .conftest import csrf_token, login
from .flows import close, launch, link_for_panellist, open_link, vote

TEMPLATES = Path(__file__).resolve().parent.parent / "delphi" / "templates"


@pytest.mark.parametrize("path", ["/login", "/nowhere", "/static/delphi.css", "/p/bad"])
def test_every_response_has_the_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    response.close()


def test_no_template_has_inline_script_or_style_or_event_handlers():
    for path in TEMPLATES.rglob("*.html"):
        if "email" in path.parts:
            continue  # emails are not pages: mail clients need inline styles, CSP is moot
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert not re.search(r"\son[a-z]+=", text), path
        assert not re.search(r"\sstyle=", text), path


def test_production_cookies_are_host_prefixed_secure_httponly_lax_with_hsts(tmp_path):
    app = create_app({"TESTING": False, "SECRET_KEY": "k" * 32, "BASE_URL": "https://x",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/p.sqlite"})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    response = client.get("/login", base_url="https://delphi.example")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-delphi=")
    for part in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert part in cookie
    assert "Domain" not in cookie
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_an_idle_session_ends(client, factory, app):
    owner = factory.facilitator()
    login(client, owner.email)
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        session["_seen"] -= app.config["SESSION_IDLE_MINUTES"] * 60 + 1
    assert client.get("/").status_code == 302


def test_a_session_ends_at_its_absolute_limit_even_when_used(client, factory, app):
    owner = factory.facilitator()
    login(client, owner.email)
    with client.session_transaction() as session:
        session["_started"] -= app.config["SESSION_ABSOLUTE_HOURS"] * 3600 + 1
    assert client.get("/").status_code == 302


def test_logout_everywhere_and_disabling_end_every_session(app, factory):
    owner = factory.facilitator()
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, owner.email)
    login(phone, owner.email)
    laptop.post("/logout-everywhere", data={"csrf_token": csrf_token(laptop, "/")})
    assert phone.get("/").status_code == 302
    login(phone, owner.email)
    assert phone.get("/").status_code == 200
    db.session.get(Facilitator, owner.id).is_enabled = False
    db.session.commit()
    assert phone.get("/").status_code == 302


def test_unknown_and_known_accounts_both_spend_a_password_hash(client, factory, monkeypatch):
    from argon2 import PasswordHasher

    calls = []
    real = PasswordHasher.verify

    def counting(self, hash_, password):
        calls.append(hash_)
        return real(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    factory.facilitator("known@example.org")
    login(client, "known@example.org", "wrong password!!")
    login(client, "unknown@example.org", "wrong password!!")
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


def test_the_address_is_throttled_separately_from_the_account(client, factory, app):
    app.config["LOGIN_MAX_FAILURES"] = 2  # the address allows 4x as many
    owner = factory.facilitator()
    for n in range(8):
        login(client, f"someone{n}@example.org", "wrong password!!")
    assert login(client, owner.email).status_code == 429


def test_nul_characters_are_refused_the_same_on_every_database(client, factory):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Facilitator))
    response = login(client, "a\x00b@example.org", "x")
    assert response.status_code == 400
    assert "contains a NUL character" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Facilitator)) == before


def test_script_typed_by_a_panellist_is_inert_in_every_page(app, client, factory):
    owner = factory.facilitator()
    study = factory.study(owner=owner)
    panel = factory.panel(study)
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    db.session.get(Panellist, panel[1].id).name = payload
    db.session.commit()
    launch(study)
    for p in panel[:3]:
        voter = app.test_client()
        open_link(voter, link_for_panellist(study, p.id))
        vote(voter, {i.id: 8 for i in study.items},
             extra={f"comment-{study.items[0].id}": payload})
    close(study)
    login(client, owner.email)
    pages = [client.get(f"/studies/{study.slug}/rounds/1/results"),
             client.get(f"/studies/{study.slug}/panel"),
             client.get(f"/studies/{study.slug}/rounds/")]
    launch(study)
    voter = app.test_client()
    open_link(voter, link_for_panellist(study, panel[0].id))
    pages.append(voter.get("/vote"))
    for page in pages:
        html = page.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[0].get_data(as_text=True)


def test_redis_rate_limit_caps_logins_per_address(tmp_path):
    import redis

    connection = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    connection.flushdb()
    app = create_app({"TESTING": True, "SECRET_KEY": "k", "BASE_URL": "https://x",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/r.sqlite",
                      "REDIS_URL": "redis://127.0.0.1:6379/15",
                      "RATE_LIMIT_LOGIN": "3 per minute", "WTF_CSRF_ENABLED": False})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    codes = [client.post("/login", data={"email": "a@example.org", "password": "p"}).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get("/login").status_code == 200  # GET is not limited
    # Reset requests are capped the same way, whatever address is typed.
    codes = [client.post("/reset", data={"email": f"r{i}@example.org"}).status_code
             for i in range(4)]
    assert codes == [302, 302, 302, 429]
    assert any(b"delphi" in key for key in connection.keys("*"))  # the limits live in Redis
    connection.flushdb()


def test_behind_one_proxy_the_throttle_sees_the_client_address(tmp_path):
    from delphi.security import client_address

    app = create_app({"TESTING": True, "SECRET_KEY": "k", "BASE_URL": "https://x",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "PROXIES": 1})
    seen = []
    app.add_url_rule("/whoami", "whoami", lambda: seen.append(client_address()) or "ok")
    client = app.test_client()
    client.get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"},
               environ_base={"REMOTE_ADDR": "127.0.0.1"})
    direct = create_app({"TESTING": True, "SECRET_KEY": "k", "BASE_URL": "https://x",
                         "DATABASE_URL": f"sqlite:///{tmp_path}/y.sqlite"})
    direct.add_url_rule("/whoami", "whoami", lambda: seen.append(client_address()) or "ok")
    direct.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"},
                             environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert seen == ["203.0.113.7", "127.0.0.1"]  # a forged header is ignored without a proxy

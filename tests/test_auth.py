"""Facilitator login, logout, throttling and safe redirects."""

from __future__ import annotations

import pytest

from delphi.extensions import db

from .conftest import csrf_token, login


def test_login_shows_the_study_list_and_logout_ends_the_session(client, factory):
    owner = factory.facilitator("maria@example.org")
    factory.study(owner=owner, impact=True)
    response = login(client, "Maria@Example.org")
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "IMPACT" in page
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302  # back to the login page


def test_logout_without_csrf_changes_nothing(client, factory):
    owner = factory.facilitator()
    login(client, owner.email)
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_logout_by_get_is_refused(client, factory):
    owner = factory.facilitator()
    login(client, owner.email)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_wrong_password_and_unknown_account_get_the_same_answer(client, factory):
    factory.facilitator("known@example.org")
    known = login(client, "known@example.org", "wrong password!!").get_data(as_text=True)
    unknown = login(client, "nobody@example.org", "wrong password!!").get_data(as_text=True)
    assert "The email or password is not right." in known
    assert "The email or password is not right." in unknown
    assert client.get("/").status_code == 302


def test_repeated_failures_throttle_the_account_even_with_the_right_password(client, factory):
    owner = factory.facilitator()
    for _ in range(5):
        login(client, owner.email, "wrong password!!")
    response = login(client, owner.email)
    assert response.status_code == 429
    assert client.get("/").status_code == 302


def test_a_disabled_account_cannot_log_in(client, factory):
    owner = factory.facilitator(is_enabled=False)
    login(client, owner.email)
    assert client.get("/").status_code == 302


def test_changing_the_password_ends_existing_sessions(client, factory):
    owner = factory.facilitator()
    login(client, owner.email)
    assert client.get("/").status_code == 200
    owner.set_password("a brand new password")
    db.session.commit()
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("target,allowed", [
    ("/studies/x/", True),
    ("https://evil.example/", False),
    ("//evil.example/", False),
    ("/\\evil.example", False),
    ("javascript:alert(1)", False),
])
def test_next_redirects_accept_only_local_paths(client, factory, target, allowed):
    owner = factory.facilitator()
    page = client.get(f"/login?next={target}")
    token = csrf_token(client, "/login")
    assert page.status_code == 200
    response = client.post("/login", data={"email": owner.email,
                                           "password": "correct horse battery",
                                           "csrf_token": token, "next": target})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert (location == target) is allowed
    if not allowed:
        assert location == "/"


def test_the_password_is_stored_as_an_argon2id_hash(factory):
    owner = factory.facilitator()
    assert owner.password_hash.startswith("$argon2id$")


def test_create_facilitator_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(args=["create-facilitator", "lee@example.org", "--password-stdin"],
                           input="long enough password\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-facilitator", "lee@example.org", "--password-stdin",
                                 "--as", "lee@example.org"], input="long enough password\n")
    assert result.exit_code == 1 and "already exists" in result.output
    result = runner.invoke(args=["create-facilitator", "kim@example.org", "--password-stdin",
                                 "--as", "lee@example.org"], input="short\n")
    assert result.exit_code == 1 and "at least 12 characters" in result.output


def test_the_cached_dummy_hash_is_one_value_for_everyone_and_opens_no_account(app):
    """The one process-wide cache of the accounts module: it takes no key, so two people
    (or two languages) can never get different or each other's entries; guessing at an
    unknown account leaves it unchanged, and it verifies none of the passwords tried."""
    from argon2 import PasswordHasher
    from argon2.exceptions import VerifyMismatchError

    from delphi.models import Facilitator
    from delphi.models.accounts import _dummy_hash

    first = _dummy_hash()
    for password in ("correct horse battery", "mot de passe ñandú", ""):
        Facilitator.spend_equal_time(password)
        assert _dummy_hash() == first
        with pytest.raises(VerifyMismatchError):
            PasswordHasher().verify(first, password)
    assert _dummy_hash.cache_info().currsize == 1

"""Schemathesis against the OpenAPI document: no 500, every response valid against its
schema (status, content type, body), for every operation, with a real study to act on."""

from __future__ import annotations

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from delphi import create_app
from delphi.api import auth as api_auth
from delphi.extensions import db
from delphi.models import ApiToken

from .api_support import make_token, submit_ratings
from .flows import close, launch

# Kept small: every operation runs in CI on two cores (about 20 operations).
MAX_EXAMPLES = 4


def _schema():
    """The document as the application serves it (an app of its own: no database needed)."""
    app = create_app({"TESTING": True, "SECRET_KEY": "schema", "DATABASE_URL": "sqlite://"})
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # A request that fits the schema may still break a rule no JSON schema can state (an
    # address that is not an email address, a survey file's semantics, a cursor this API
    # never gave): those are 400 or 422 problem documents, which is an answer, not a bug.
    accepted = loaded.config.checks.positive_data_acceptance
    accepted.expected_statuses = [*accepted.expected_statuses, "400", "422"]
    return loaded


schema = _schema()
# The fixture gives the test's facilitator a token with this secret (a fresh database per
# test, so the same secret each time): schemathesis applies it while it generates cases.
SECRET = "dlp_" + "schemathesis-fixed-secret-0123456789abcdef0"


@schema.auth(refresh_interval=None)
class TokenAuth:
    """The token of the test's facilitator, sent as schemathesis knows (so its checks of
    missing or wrong credentials use their own)."""

    def get(self, case, context):  # type: ignore[no-untyped-def]
        return SECRET

    def set(self, case, data, context):  # type: ignore[no-untyped-def]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def fuzz_app(_app):
    """One study for every operation of this module (built once: the operations act on
    it in turn, so later ones meet what earlier ones did, as a real client would)."""
    from .conftest import FreshContextClient, _empty_all_tables
    from .factories import Factory

    _app.test_client_class = FreshContextClient
    with _app.app_context():
        _empty_all_tables()
        api_auth.windows.reset()
        factory = Factory()
        owner = factory.facilitator("fuzz@example.org")
        study = factory.study(owner=owner, slug="alpha")
        factory.panel(study, per_group=2)
        launch(study)
        submit_ratings(study, [7, 8, 9])
        close(study)
        make_token(owner)
        row = db.session.scalar(sa.select(ApiToken))
        row.secret_hash = ApiToken.hash(SECRET)
        db.session.commit()
    _app.config["RATE_LIMIT_API"] = "100000 per minute"
    yield _app
    _app.config["RATE_LIMIT_API"] = "120 per minute"
    api_auth.windows.reset()  # the next test's token has the same id: start it afresh


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case, fuzz_app):
    parameters = case.path_parameters or {}
    if "slug" in parameters:
        parameters["slug"] = "alpha"  # a study the token may act on; others are 404
    if "number" in parameters:
        parameters["number"] = 1
    sent = case.as_transport_kwargs()
    sent["headers"].pop("Accept-Encoding", None)  # the test client would not decode brotli
    response = fuzz_app.test_client().open(**sent)
    case.validate_response(response)

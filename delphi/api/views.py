"""The endpoints of ``/api/v1``: thin over the features' use cases, committed once
through the unit of work, answered with the models of ``schemas.py``."""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, g, render_template, request, url_for
from flask import Response as FlaskResponse
from sqlalchemy.orm import joinedload

from .. import webhooks
from ..console import requires
from ..decisions import operations as decision_ops
from ..decisions.results import open_suggestions
from ..exports import downloads
from ..exports.formats import ExportError
from ..exports.pdf import PdfUnavailable
from ..extensions import db
from ..models import (
    AuditEvent,
    DecisionKind,
    DomainError,
    DropOutcome,
    Invitation,
    Item,
    ItemDecision,
    Panellist,
    Response,
    ResponseState,
    Round,
    RoundResult,
    Section,
    Study,
    StudyMembership,
    Suggestion,
    Webhook,
    WebhookDelivery,
)
from ..roles import Permission
from ..rounds import operations as round_ops
from ..studies import operations as study_ops
from ..studies.operations import PanelImportError
from ..studies.panellists import PanellistDetails, PanellistInvalid, edit_panellist
from ..surveys import SurveyError, check_document, parse_survey, survey_document
from ..uow import unit_of_work
from . import schemas as s
from .auth import actor, authenticate, require_scope, study_for
from .problems import ApiAbort
from .spec import openapi_document, responds, validate

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC_ENDPOINTS = {"api.openapi", "api.reference"}


@bp.before_request
def _authenticate() -> None:
    if request.method == "OPTIONS":  # no CORS here: say which methods the path has
        adapter = current_app.url_map.bind_to_environ(request.environ)
        allowed = sorted(set(adapter.allowed_methods()) - {"OPTIONS", "HEAD"})
        raise ApiAbort(405, "http.405", "This address takes {methods}.",
                       params={"methods": ", ".join(allowed)},
                       headers={"Allow": ", ".join(allowed)})
    if request.endpoint not in PUBLIC_ENDPOINTS:
        authenticate()


@bp.after_request
def _etag(response: FlaskResponse) -> FlaskResponse:
    """Reads carry an ETag; If-None-Match with the same one is answered 304."""
    if request.method in ("GET", "HEAD") and response.status_code == 200 \
            and not response.is_streamed:
        response.add_etag()
        response.make_conditional(request)
        response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Authorization")
    return response


# -- paging --------------------------------------------------------------------------

def _cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        value = int(number)
        if kind != "id" or value < 0 or value > 2**62:
            raise ValueError
    except ValueError:
        raise ApiAbort(400, "page.cursor_invalid", "The cursor is not one this API gave; "
                       "start again without it.",
                       errors=[{"where": "query.cursor", "message": "unknown cursor"}]) from None
    return value


def _page(select: sa.Select, column: Any, query: s.PageQuery, *, newest_first: bool = False
          ) -> tuple[list[Any], str | None]:
    """One page of ``select`` ordered by ``column`` (an id), and the next page's cursor."""
    after = _after(query.cursor)
    if after is not None:
        select = select.where(column < after if newest_first else column > after)
    select = select.order_by(column.desc() if newest_first else column).limit(query.limit + 1)
    rows = list(db.session.scalars(select))
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return rows, (_cursor(rows[-1].id) if more and rows else None)


def _write(action: Any) -> Any:
    """Run a use case in one unit of work; a refusal is a 409/422 problem, nothing saved."""
    try:
        with unit_of_work():
            return action()
    except PanelImportError as exc:
        raise ApiAbort(422, "panel.rows_invalid", "The panel file has errors; nothing was "
                       "imported.", errors=[{"where": f"line {e.line}", "message": e.message}
                                            for e in exc.errors]) from None
    except SurveyError as exc:
        raise ApiAbort(422, "survey.invalid", "The survey definition has errors; nothing "
                       "was changed.", errors=[{"where": p.split(":", 1)[0],
                                                "message": p.split(":", 1)[-1].strip()}
                                               for p in exc.with_lines()]) from None


# -- the document and the reference page -------------------------------------------------

@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API (no token needed)."""
    return openapi_document()


@bp.get("/docs")
def reference():
    """A readable reference of every operation, rendered here (no script, no CDN)."""
    return render_template("api/reference.html", doc=openapi_document())


# -- who am I -----------------------------------------------------------------------------

@bp.get("/me")
@validate(resp=responds(s.Me, cached=True), tags=["tokens"])
def me():
    """The facilitator and token making this call."""
    token = g.api_token
    return s.Me(email=actor().email, name=actor().name, token_name=token.name,
                scopes=token.scope_list, expires_at=token.expires_at)


# -- studies ------------------------------------------------------------------------------

def _summary(study: Study, role: str) -> dict[str, Any]:
    return {"slug": study.slug, "title": study.title, "state": study.state.value,
            "role": role, "rounds": len(study.rounds), "created_at": study.created_at}


@bp.get("/studies")
@validate(query=s.PageQuery, resp=responds(s.StudyList, cached=True, extra=(400,)),
          tags=["studies"])
def list_studies(query: s.PageQuery):
    """The studies whose committee you are on."""
    require_scope("read")
    select = sa.select(Study).join(StudyMembership).where(
        StudyMembership.facilitator_id == actor().id)
    studies, nxt = _page(select, Study.id, query)
    roles = dict(db.session.execute(sa.select(StudyMembership.study_id, StudyMembership.role)
                                    .where(StudyMembership.facilitator_id == actor().id)).all())
    return s.StudyList(studies=[s.StudySummary(**_summary(x, roles[x.id])) for x in studies],
                       next=nxt)


def _study_out(study: Study) -> s.StudyOut:
    counts = dict(db.session.execute(
        sa.select(Panellist.group_id, sa.func.count()).where(Panellist.study_id == study.id)
        .group_by(Panellist.group_id)).all())
    current = study.current_round
    return s.StudyOut(
        **_summary(study, g.get("api_role", "owner")), description=study.description,
        method=study.method, scale=study.scale_key,
        groups=[s.GroupOut(key=x.key, name=x.name, panellists=counts.get(x.id, 0))
                for x in study.groups],
        items=len(study.items), current_round=current.number if current else None,
        definition=survey_document(study_ops.study_definition(study)))


@bp.get("/studies/<slug>")
@requires(Permission.VIEW_STUDY)
@validate(resp=responds(s.StudyOut, cached=True), tags=["studies"])
def get_study(slug: str):
    """One study: its state, groups, statements and survey definition."""
    return _study_out(study_for(slug))


def _definition(body: s.SurveyInput):
    definition, text = body.definition, body.yaml
    if definition is None and text is not None:
        return lambda: parse_survey(text, "yaml")
    if definition is not None and text is None:
        return lambda: check_document(definition, "definition")
    raise ApiAbort(422, "survey.one_of", "Send exactly one of `definition` and `yaml`.",
                   errors=[{"where": "body", "message": "one of definition, yaml"}])


@bp.post("/studies")
@validate(json=s.SurveyInput, resp=responds(s.StudyOut, 201, extra=(409,)), tags=["studies"])
def create_study(json: s.SurveyInput):
    """Create a study from a survey definition (JSON or YAML); you become its owner."""
    require_scope("write")
    parse = _definition(json)
    me_ = actor()

    study = _write(lambda: study_ops.import_survey(parse(), me_, me_))
    g.api_role = "owner"
    return _study_out(study), 201, {"Location": url_for("api.get_study", slug=study.slug)}


@bp.put("/studies/<slug>/definition")
@requires(Permission.EDIT_DEFINITION)
@validate(json=s.SurveyInput, resp=responds(s.StudyOut, extra=(409,)), tags=["studies"])
def update_study(slug: str, json: s.SurveyInput):
    """Replace a draft study's definition (before round 1); the slug cannot change."""
    study = study_for(slug)
    parse = _definition(json)

    def action() -> Study:
        definition = parse()
        if definition.slug != study.slug:
            raise DomainError("study.slug_fixed", "The definition's slug must stay {slug}.",
                              slug=study.slug)
        return study_ops.update_survey(study, definition, actor())

    return _study_out(_write(action))


# -- panel --------------------------------------------------------------------------------

def _panellist_out(p: Panellist) -> s.PanellistOut:
    return s.PanellistOut(pseudonym=p.pseudonym, name=p.name, email=p.email, group=p.group.key,
                          attributes={k: str(v) for k, v in (p.attributes or {}).items()},
                          active=p.is_active, withdrawn_at=p.withdrawn_at,
                          erased=p.is_erased)


def _panellist(study: Study, pseudonym: str) -> Panellist:
    panellist = db.session.scalar(sa.select(Panellist).where(
        Panellist.study_id == study.id, Panellist.pseudonym == pseudonym))
    if panellist is None:
        raise ApiAbort(404, "panel.not_found", "There is no panellist {pseudonym} in this study.",
                       params={"pseudonym": pseudonym[:40]})
    return panellist


@bp.get("/studies/<slug>/panel")
@requires(Permission.VIEW_PANEL)
@validate(query=s.PageQuery, resp=responds(s.PanelList, cached=True, extra=(400,)),
          tags=["panel"])
def list_panel(slug: str, query: s.PageQuery):
    """The panel, in the order it was added."""
    study = study_for(slug)
    select = sa.select(Panellist).where(Panellist.study_id == study.id) \
        .options(joinedload(Panellist.group))
    rows, nxt = _page(select, Panellist.id, query)
    return s.PanelList(panellists=[_panellist_out(p) for p in rows], next=nxt)


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


@bp.post("/studies/<slug>/panel")
@requires(Permission.MANAGE_PANEL)
@validate(json=s.PanellistIn, resp=responds(s.PanellistOut, 201, extra=(409,)), tags=["panel"])
def add_panellist(slug: str, json: s.PanellistIn):
    """Add one panellist (checked as a line of the panel file is)."""
    study = study_for(slug)
    extra = sorted(json.attributes)
    text = _csv([["name", "email", "group", *extra],
                 [json.name, json.email, json.group, *(json.attributes[k] for k in extra)]])
    added = _write(lambda: study_ops.import_panel(study, text, actor()))
    return _panellist_out(added[0]), 201


@bp.post("/studies/<slug>/panel-import")
@requires(Permission.MANAGE_PANEL)
@validate(json=s.PanelImportIn, resp=responds(s.PanelImportOut, 201, extra=(409,)),
          tags=["panel"])
def import_panel(slug: str, json: s.PanelImportIn):
    """Add the panellists of a panel file (CSV text), all or none; each bad line is named."""
    study = study_for(slug)
    added = _write(lambda: study_ops.import_panel(study, json.csv, actor()))
    return s.PanelImportOut(added=[p.pseudonym for p in added]), 201


@bp.get("/studies/<slug>/panel/<pseudonym>")
@requires(Permission.VIEW_PANEL)
@validate(resp=responds(s.PanellistOut, cached=True), tags=["panel"])
def get_panellist(slug: str, pseudonym: str):
    """One panellist."""
    return _panellist_out(_panellist(study_for(slug), pseudonym))


@bp.patch("/studies/<slug>/panel/<pseudonym>")
@requires(Permission.MANAGE_PANEL)
@validate(json=s.PanellistPatch, resp=responds(s.PanellistOut, extra=(409,)), tags=["panel"])
def update_panellist(slug: str, pseudonym: str, json: s.PanellistPatch):
    """Correct a panellist's name, email, group or language (the console's edit: a new
    address takes over their unsent emails)."""
    study = study_for(slug)
    person = _panellist(study, pseudonym)
    details = PanellistDetails(
        name=person.name if json.name is None else json.name,
        email=person.email if json.email is None else json.email,
        group=person.group.key if json.group is None else json.group,
        language=person.language if json.language is None else json.language,
        attributes={k: str(v) for k, v in (person.attributes or {}).items()})
    try:
        _write(lambda: edit_panellist(study, person, details, actor()))
    except PanellistInvalid as exc:
        raise ApiAbort(422, "panellist.invalid", "The panellist's details have errors; "
                       "nothing was changed.",
                       errors=[{"where": f"body.{k}", "message": v}
                               for k, v in exc.problems.items()]) from None
    except DomainError as exc:
        if exc.code != "panellist.unchanged":  # the same details again: nothing to do
            raise
    return _panellist_out(person)


@bp.post("/studies/<slug>/panel/<pseudonym>/withdraw")
@requires(Permission.MANAGE_PANEL)
@validate(json=s.WithdrawIn, resp=responds(s.PanellistOut, extra=(409,)), tags=["panel"])
def withdraw_panellist(slug: str, pseudonym: str, json: s.WithdrawIn):
    """Withdraw a panellist: their links stop working and later rounds skip them."""
    study = study_for(slug)
    person = _panellist(study, pseudonym)
    return _panellist_out(_write(lambda: round_ops.withdraw_panellist(
        study, person, json.reason, actor())))


# -- rounds -------------------------------------------------------------------------------

def _round_out(rnd: Round) -> s.RoundOut:
    submitted = set(db.session.scalars(sa.select(Response.panellist_id).where(
        Response.round_id == rnd.id, Response.state == ResponseState.SUBMITTED)))
    invitations = db.session.scalars(
        sa.select(Invitation).where(Invitation.round_id == rnd.id)
        .options(joinedload(Invitation.panellist).joinedload(Panellist.group))).all()
    groups: dict[str, list[int]] = {}
    for invitation in invitations:
        row = groups.setdefault(invitation.panellist.group.key, [0, 0])
        row[0] += 1
        row[1] += invitation.panellist_id in submitted
    has_results = (db.session.scalar(sa.select(sa.func.count()).select_from(RoundResult)
                                     .where(RoundResult.round_id == rnd.id)) or 0) > 0
    return s.RoundOut(number=rnd.number, state=rnd.state.value, opened_at=rnd.opened_at,
                      closes_at=rnd.closes_at, closed_at=rnd.closed_at,
                      invited=len(invitations), submitted=len(submitted),
                      progress=[s.GroupProgress(group=k, invited=v[0], submitted=v[1])
                                for k, v in sorted(groups.items())],
                      has_results=has_results)


def _round(study: Study, number: int) -> Round:
    rnd = next((r for r in study.rounds if r.number == number), None)
    if rnd is None:
        raise ApiAbort(404, "round.not_found", "There is no round {number} in this study.",
                       params={"number": number})
    return rnd


@bp.get("/studies/<slug>/rounds")
@requires(Permission.VIEW_ROUNDS)
@validate(resp=responds(s.RoundList, cached=True), tags=["rounds"])
def list_rounds(slug: str):
    """Every round, with invited and submitted counts per stakeholder group."""
    study = study_for(slug)
    return s.RoundList(rounds=[_round_out(r) for r in study.rounds])


@bp.get("/studies/<slug>/rounds/<int:number>")
@requires(Permission.VIEW_ROUNDS)
@validate(resp=responds(s.RoundOut, cached=True), tags=["rounds"])
def get_round(slug: str, number: int):
    """One round and its progress per group."""
    return _round_out(_round(study_for(slug), number))


@bp.post("/studies/<slug>/rounds")
@requires(Permission.RUN_ROUNDS)
@validate(json=s.LaunchIn, resp=responds(s.RoundOut, 201, extra=(409,)), tags=["rounds"])
def launch_round(slug: str, json: s.LaunchIn):
    """Launch the next round: invitations go to the outbox."""
    study = study_for(slug)
    rnd = _write(lambda: round_ops.launch_round(study, actor(), json.closes_at))
    return _round_out(rnd), 201


@bp.post("/studies/<slug>/rounds/current/close")
@requires(Permission.RUN_ROUNDS)
@validate(resp=responds(s.RoundOut, extra=(409,)), tags=["rounds"])
def close_round(slug: str):
    """Close the open round and compute its results."""
    study = study_for(slug)
    return _round_out(_write(lambda: round_ops.close_round(study, actor())))


@bp.post("/studies/<slug>/rounds/current/remind")
@requires(Permission.RUN_ROUNDS)
@validate(resp=responds(s.RemindOut, extra=(409,)), tags=["rounds"])
def remind(slug: str):
    """Queue a reminder to everyone invited to the open round who has not submitted."""
    study = study_for(slug)
    return s.RemindOut(reminders=_write(lambda: round_ops.remind(study, actor())))


@bp.post("/studies/<slug>/rounds/current/extend")
@requires(Permission.RUN_ROUNDS)
@validate(json=s.ExtendIn, resp=responds(s.RoundOut, extra=(409,)), tags=["rounds"])
def extend(slug: str, json: s.ExtendIn):
    """Move the open round's deadline."""
    study = study_for(slug)
    return _round_out(_write(lambda: round_ops.set_deadline(study, json.closes_at, actor())))


@bp.get("/studies/<slug>/rounds/<int:number>/results")
@requires(Permission.VIEW_RESULTS)
@validate(resp=responds(s.ResultsOut, cached=True, extra=(409,)), tags=["results"])
def results(slug: str, number: int):
    """The analysis stored when the round closed: the numbers of the results page."""
    rnd = _round(study_for(slug), number)
    stored = db.session.scalar(sa.select(RoundResult).where(RoundResult.round_id == rnd.id))
    if stored is None:
        raise ApiAbort(409, "results.not_ready", "Round {number} has no results until it "
                       "closes.", params={"number": number})
    return s.ResultsOut(round=number, computed_at=stored.computed_at, analysis=stored.data)


# -- decisions ----------------------------------------------------------------------------

def _decision_out(d: ItemDecision) -> s.DecisionOut:
    made = [link.child.label for link in d.links]
    if d.kind is DecisionKind.ADD:
        made = [x.item.label for x in d.subjects]
    return s.DecisionOut(id=d.id, after_round=d.after_round, kind=d.kind.value,
                         outcome=d.outcome.value if d.outcome else None, reason=d.reason,
                         items=[] if d.kind is DecisionKind.ADD else
                         [x.item.label for x in d.subjects],
                         new=list(dict.fromkeys(made)), actor=d.actor, created_at=d.created_at)


@bp.get("/studies/<slug>/decisions")
@requires(Permission.VIEW_RESULTS)
@validate(resp=responds(s.DecisionList, cached=True), tags=["decisions"])
def list_decisions(slug: str):
    """The decisions taken between rounds, oldest first."""
    study = study_for(slug)
    rows = db.session.scalars(sa.select(ItemDecision).where(ItemDecision.study_id == study.id)
                              .order_by(ItemDecision.id)).all()
    return s.DecisionList(decisions=[_decision_out(d) for d in rows])


@bp.get("/studies/<slug>/rounds/<int:number>/suggestions")
@requires(Permission.VIEW_RESULTS)
@validate(resp=responds(s.SuggestionList, cached=True), tags=["decisions"])
def list_suggestions(slug: str, number: int):
    """The panel's suggestions of a round that are still open (not yet a statement, set
    aside, split or merged): an `add` decision may take one by its `id`."""
    rnd = _round(study_for(slug), number)
    return s.SuggestionList(suggestions=[
        s.SuggestionOut(id=x.id, item=x.item.label if x.item else None, text=x.text)
        for x in open_suggestions(rnd)])


def _bad(field: str, code: str, detail: str, **params: Any) -> ApiAbort:
    return ApiAbort(422, code, detail, params=params,
                    errors=[{"where": f"body.{field}", "message": detail.format_map(params)}])


def _item(study: Study, label: str) -> Item:
    """A statement by its label (``a-01``, ``a-01.v2``; ``a-01 v2`` is also understood)."""
    text = label.strip()
    candidates = [(text, 1)]
    for mark in (".v", " v"):
        key, found, version = text.rpartition(mark)
        if found and version.isdigit() and key:
            candidates.append((key, int(version)))
    for key, number in candidates:
        item = db.session.scalar(sa.select(Item).where(
            Item.study_id == study.id, Item.key == key, Item.version == number))
        if item is not None:
            return item
    raise _bad("items", "decision.item_unknown", "There is no statement {label}.",
               label=label[:80])


def _section(study: Study, key: str) -> Section:
    section = next((x for x in study.sections if x.key == key), None)
    if section is None:
        raise _bad("section", "decision.section_unknown", "There is no section {key}.",
                   key=key[:64])
    return section


def _suggestion(study: Study, suggestion_id: int) -> Suggestion:
    suggestion = db.session.get(Suggestion, suggestion_id)
    if suggestion is None or suggestion.round.study_id != study.id:
        raise _bad("suggestion", "decision.suggestion_unknown", "There is no suggestion {id} "
                   "in this study.", id=suggestion_id)
    return suggestion


# The field of the body a use case's refusal is about, so the problem names it.
_REFUSED_FIELD = {
    "decision.bad_key": "key", "decision.key_taken": "key", "decision.same_wording": "text",
    "decision.split_too_few": "texts", "decision.split_too_many": "texts",
    "decision.split_plain_count": "plain_texts", "decision.merge_too_few": "items",
    "decision.item_not_active": "items", "decision.item_not_rated": "items",
    "decision.suggestion_used": "suggestion", "suggestion.not_open": "suggestion",
}
# ``_clean``'s refusals name the text by the words the console shows.
_TEXT_FIELD = {"The reason": "reason", "The new wording": "text", "The merged statement": "text",
               "The statement": "text", "A new statement": "texts", "The rationale": "rationale",
               "The plain-language version": "plain_text",
               "A plain-language version": "plain_texts"}


def _refused(exc: DomainError) -> ApiAbort:
    """A use case's refusal of a decision, as the 409 every refusal is, naming the field."""
    field = _REFUSED_FIELD.get(exc.code) or _TEXT_FIELD.get(str(exc.params.get("what")))
    detail = exc.render()
    errors = [{"where": f"body.{field}", "message": detail}] if field else None
    return ApiAbort(409, exc.code, detail.replace("{", "{{").replace("}", "}}"),
                    params=exc.params, errors=errors)


@bp.post("/studies/<slug>/decisions")
@requires(Permission.DECIDE)
@validate(json=s.DecisionIn, resp=responds(s.DecisionOut, 201, extra=(409, 422)),
          tags=["decisions"])
def record_decision(slug: str, json: s.DecisionIn):
    """Record a decision after the latest round closed, before the next launch: carry
    statements forward, drop, reword, split or merge them, or add a new statement (the
    committee's or from a panel suggestion). The console's use cases, with its fields."""
    study = study_for(slug)
    body = json.root
    items = [_item(study, label) for label in getattr(body, "items", [])]
    section = _section(study, body.section) if isinstance(body, s.AddIn) else None
    suggestion = _suggestion(study, body.suggestion) \
        if isinstance(body, s.AddIn) and body.suggestion else None

    def decide() -> ItemDecision:
        me_ = actor()
        match body:
            case s.CarryIn():
                decision_ops.carry_forward(study, items, body.reason, me_)
            case s.DropIn():
                decision_ops.drop(study, items[0], DropOutcome(body.outcome), body.reason, me_)
            case s.RewordIn():
                decision_ops.reword(study, items[0], body.text, body.reason, me_,
                                    body.plain_text, body.rationale)
            case s.SplitIn():
                decision_ops.split(study, items[0], body.texts, body.reason, me_,
                                   body.plain_texts, body.rationale)
            case s.MergeIn():
                decision_ops.merge(study, items, body.key, body.text, body.reason, me_,
                                   body.plain_text, body.rationale)
            case s.AddIn():
                assert section is not None
                decision_ops.add_statement(study, section, body.key, body.text,
                                           body.rationale, body.reason, me_, suggestion,
                                           body.plain_text)
        return db.session.scalars(sa.select(ItemDecision).where(  # the one just made
            ItemDecision.study_id == study.id).order_by(ItemDecision.id.desc()).limit(1)).one()

    try:
        decision = _write(decide)
    except DomainError as exc:
        raise _refused(exc) from None
    return _decision_out(decision), 201, {"Location": url_for(
        "api.list_decisions", slug=study.slug)}


@bp.delete("/studies/<slug>/decisions/<int:decision_id>")
@requires(Permission.DECIDE)
@validate(resp=responds(None, 204, extra=(409,)), tags=["decisions"])
def undo_decision(slug: str, decision_id: int):
    """Undo a decision made after the latest round, before the next launch: its statements
    are as they were when the round closed; the ones it made are removed (the console's
    undo)."""
    study = study_for(slug)
    decision = db.session.get(ItemDecision, decision_id)
    if decision is None or decision.study_id != study.id:
        raise ApiAbort(404, "decision.not_found", "This study has no decision {id}.",
                       params={"id": decision_id})
    _write(lambda: decision_ops.undo_decision(study, decision, actor()))
    return FlaskResponse(status=204)


# -- exports and audit --------------------------------------------------------------------

@bp.get("/studies/<slug>/exports")
@requires(Permission.EXPORT)
@validate(resp=responds(s.ExportList, cached=True), tags=["exports"])
def list_exports(slug: str):
    """Every export (what x format) with its URL."""
    study = study_for(slug)
    return s.ExportList(exports=[
        s.ExportOut(what=what, format=fmt, description=downloads.WHAT[what],
                    url=url_for("api.export", slug=study.slug, what=what, fmt=fmt))
        for what, formats in downloads.EXPORTS.items() for fmt in formats])


@bp.get("/studies/<slug>/exports/<what>/<fmt>")
@requires(Permission.EXPORT)
@validate(resp=responds(None, extra=(409,)), tags=["exports"])
def export(slug: str, what: str, fmt: str):
    """Download one export, e.g. `ratings/csv`: the long format `delphi analyze` reads."""
    study = study_for(slug)
    try:
        downloads.check_combination(what, fmt)
    except ExportError as exc:
        raise ApiAbort(404, "export.unknown", str(exc).capitalize() + ".",
                       params={"what": what[:40], "format": fmt[:40]}) from None
    try:
        made = downloads.export(study, what, fmt)
    except (ExportError, PdfUnavailable) as exc:  # a PDF without WeasyPrint (or a DOCX
        # without python-docx: DocxUnavailable is a PdfUnavailable)
        raise ApiAbort(409, "export.unavailable", str(exc)) from None
    return downloads.send(made)


@bp.get("/studies/<slug>/audit")
@requires(Permission.VIEW_STUDY)
@validate(query=s.PageQuery, resp=responds(s.AuditList, cached=True, extra=(400,)),
          tags=["audit"])
def audit_log(slug: str, query: s.PageQuery):
    """The study's audit log, newest first."""
    study = study_for(slug)
    rows, nxt = _page(sa.select(AuditEvent).where(AuditEvent.study_id == study.id),
                      AuditEvent.id, query, newest_first=True)
    return s.AuditList(events=[s.AuditEventOut(id=e.id, actor=e.actor, action=e.action,
                                               detail=e.detail or {}, created_at=e.created_at)
                               for e in rows], next=nxt)



# -- webhooks -----------------------------------------------------------------------------

def _webhook_out(hook: Webhook, secret: str | None = None) -> s.WebhookOut:
    return s.WebhookOut(id=hook.id, url=hook.url, events=hook.event_list,
                        created_at=hook.created_at, secret=secret)


def _webhook(study: Study, hook_id: int) -> Webhook:
    hook = webhooks.find_webhook(study, hook_id)
    if hook is None:
        raise ApiAbort(404, "webhook.not_found", "This study has no webhook {id}.",
                       params={"id": hook_id})
    return hook


@bp.get("/studies/<slug>/webhooks")
@requires(Permission.VIEW_STUDY)
@validate(resp=responds(s.WebhookList, cached=True), tags=["webhooks"])
def list_webhooks(slug: str):
    """The study's webhooks (their secrets are shown only when created)."""
    return s.WebhookList(webhooks=[_webhook_out(h)
                                   for h in webhooks.study_webhooks(study_for(slug))])


@bp.post("/studies/<slug>/webhooks")
@requires(Permission.EDIT_DEFINITION)
@validate(json=s.WebhookIn, resp=responds(s.WebhookOut, 201, extra=(409,)), tags=["webhooks"])
def add_webhook(slug: str, json: s.WebhookIn):
    """Register a URL for events; the answer holds the signing secret, once."""
    study = study_for(slug)
    try:
        hook, secret = _write(lambda: webhooks.add_webhook(study, json.url, json.events, actor()))
    except DomainError as exc:
        raise ApiAbort(422, exc.code, exc.render(), params=exc.params,
                       errors=[{"where": "body", "message": exc.render()}]) from None
    return _webhook_out(hook, secret), 201


@bp.delete("/studies/<slug>/webhooks/<int:hook_id>")
@requires(Permission.EDIT_DEFINITION)
@validate(resp=responds(None, 204), tags=["webhooks"])
def remove_webhook(slug: str, hook_id: int):
    """Stop sending to a webhook (its delivery log stays)."""
    study = study_for(slug)
    hook = _webhook(study, hook_id)
    _write(lambda: webhooks.remove_webhook(study, hook, actor()))
    return FlaskResponse(status=204)


@bp.get("/studies/<slug>/webhooks/<int:hook_id>/deliveries")
@requires(Permission.VIEW_STUDY)
@validate(query=s.PageQuery, resp=responds(s.DeliveryList, cached=True), tags=["webhooks"])
def list_deliveries(slug: str, hook_id: int, query: s.PageQuery):
    """The delivery log of a webhook, newest first."""
    hook = _webhook(study_for(slug), hook_id)
    rows, nxt = _page(sa.select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id),
                      WebhookDelivery.id, query, newest_first=True)
    return s.DeliveryList(deliveries=[s.DeliveryOut(
        id=d.id, event=d.event, status=d.status, attempts=d.attempts, last_status=d.last_status,
        last_error=d.last_error, created_at=d.created_at, next_attempt_at=d.next_attempt_at)
        for d in rows], next=nxt)

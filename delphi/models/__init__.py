"""Typed SQLAlchemy models, by aggregate; import them from here."""

from .accounts import ApiToken, Facilitator, FacilitatorSession, StudyMembership
from .audit import AuditEvent, ThrottleCounter
from .decisions import DecisionKind, DecisionSubject, DropOutcome, ItemDecision, ItemLink
from .mail import MailStatus, OutboxMessage, WorkerHeartbeat
from .rounds import (
    AccessToken,
    Invitation,
    Rating,
    Response,
    ResponseState,
    Round,
    RoundItem,
    RoundResult,
    RoundState,
    Suggestion,
)
from .study import (
    ConsensusSettings,
    Item,
    ItemOrigin,
    ItemStatus,
    Panellist,
    Section,
    StakeholderGroup,
    Study,
    StudyState,
)
from .types import DomainError, IllegalTransition, utcnow
from .webhooks import Webhook, WebhookDelivery

__all__ = [
    "ApiToken",
    "AccessToken",
    "AuditEvent",
    "ConsensusSettings",
    "DecisionKind",
    "DecisionSubject",
    "DropOutcome",
    "DomainError",
    "Facilitator",
    "FacilitatorSession",
    "IllegalTransition",
    "Invitation",
    "Item",
    "ItemDecision",
    "ItemLink",
    "ItemOrigin",
    "ItemStatus",
    "MailStatus",
    "OutboxMessage",
    "Panellist",
    "Rating",
    "Response",
    "ResponseState",
    "Round",
    "RoundItem",
    "RoundResult",
    "RoundState",
    "Section",
    "StakeholderGroup",
    "Study",
    "StudyMembership",
    "StudyState",
    "Suggestion",
    "ThrottleCounter",
    "Webhook",
    "WebhookDelivery",
    "WorkerHeartbeat",
    "utcnow",
]

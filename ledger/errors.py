"""Errors the ledger raises: values a user can act on (code, field, reason).

Every error names the field it is about (a dotted path for documents, a column for
imports) and a reason in plain words.  `api/` maps each class to one HTTP status.
"""
from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every domain error: `code` for machines, `message` for people."""

    code = "ledger_error"
    status = 400  # the HTTP status the API layer uses; kept here as a plain number

    def __init__(self, message: str, field: str | None = None, **details: Any):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        if self.details:
            body["details"] = self.details
        return body


class ValidationFailed(LedgerError):
    """A value in a request is malformed or out of range."""

    code = "invalid"
    status = 422


class NotFound(LedgerError):
    """The object does not exist, or is outside the caller's scope (never says which)."""

    code = "not_found"
    status = 404


class UnknownVolunteer(NotFound):
    code = "unknown_volunteer"


class UnknownActivity(NotFound):
    code = "unknown_activity"


class UnknownUnit(NotFound):
    code = "unknown_unit"


class Forbidden(LedgerError):
    """The caller's role may not do this."""

    code = "forbidden"
    status = 403


class Unauthenticated(LedgerError):
    code = "unauthenticated"
    status = 401


class Conflict(LedgerError):
    """The request contradicts the current state (already reversed, overlapping, ...)."""

    code = "conflict"
    status = 409


class IdempotencyConflict(Conflict):
    """The idempotency key was used before with a different request body."""

    code = "idempotency_key_reused"


class AlreadyReversed(Conflict):
    code = "already_reversed"


class InsufficientPoints(Conflict):
    code = "insufficient_points"


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class PolicyInvalid(LedgerError):
    """A policy document is malformed or contradictory; `field` is the dotted path."""

    code = "policy_invalid"
    status = 422

    def __init__(self, path: str, reason: str, **details: Any):
        super().__init__(f"{path}: {reason}", field=path, **details)
        self.path = path
        self.reason = reason


class ImportRejected(LedgerError):
    """A bulk import had bad rows; nothing was imported. `details['rows']` lists them."""

    code = "import_rejected"
    status = 422


class TooManyAttempts(LedgerError):
    code = "too_many_attempts"
    status = 429


class ServiceUnavailable(LedgerError):
    """The database cannot be reached right now; retry later."""

    code = "unavailable"
    status = 503


class PriceChanged(Conflict):
    """The price shown to the volunteer is no longer the item's price; nothing was redeemed."""

    code = "price_changed"


class LimitReached(Conflict):
    """A redemption would pass an item's limit per volunteer per period."""

    code = "limit_reached"


class AlreadyCancelled(Conflict):
    """A redemption receipt or reservation that was already cancelled."""

    code = "already_cancelled"


class RedemptionInFlight(Conflict):
    """A redemption for the volunteer holds points right now; retry once it is settled."""

    code = "redemption_in_flight"


class PackageRefused(LedgerError):
    """A transfer package was not imported; `details['reason']` says why (nothing changed)."""

    code = "package_refused"
    status = 422

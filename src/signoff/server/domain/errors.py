"""Why a domain call refused, independent of HTTP: each error knows the status and the
code the routers answer with (``signoff.server.errors`` translates every one of them)."""

from __future__ import annotations

from signoff.models import Approval


class DomainError(Exception):
    status = 400
    code = "request_invalid"

    def __init__(
        self, message: str, code: str | None = None, problems: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        """(field, message) pairs, answered as ``problems`` (a policy file's errors)."""
        if code:
            self.code = code


class NotFound(DomainError):
    status = 404
    code = "not_found"

    def __init__(self, what: str, item_id: str) -> None:
        super().__init__(f"no {what} with id {item_id!r}", f"{what.replace(' ', '_')}_not_found")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    status = 422
    code = "request_invalid"


class AlreadyDecided(Conflict):
    """Another decision won (or the approval expired first); nothing was written."""

    def __init__(self, approval: Approval) -> None:
        super().__init__(
            f"approval {approval.id} is already {approval.status.value}", "already_decided"
        )
        self.approval = approval


class LinkRefused(DomainError):
    """A signed decision link that cannot decide: expired, used, or its approval decided."""

    status = 410
    code = "link_refused"


class LinkInvalid(LinkRefused):
    """A link this service did not sign as it stands (changed or cut short)."""

    status = 404
    code = "link_invalid"

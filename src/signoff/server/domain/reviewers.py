"""Reviewers and groups: who they are, managed with an admin key only.

A pipeline's API key must never choose who approves its own request, so every change
here needs an admin key (the routers check it). A reviewer's record carries the groups
that route approvals to them; their tokens are credentials named after them.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.exc import IntegrityError

from signoff.models import Group, Reviewer, ReviewerCreate, ReviewerCreated, ReviewerUpdate
from signoff.server.delivery import targets
from signoff.server.domain.errors import Conflict, Invalid, NotFound
from signoff.server.services import Services
from signoff.server.store.credentials import configured_entries, insert_key, stored_entries
from signoff.server.store.db import write
from signoff.server.store.reviewers import ReviewerRecord


async def lookup(services: Services, name: str) -> ReviewerRecord:
    """The reviewer behind a token: their stored record, or (a token configured with
    ``--reviewer-token NAME=TOKEN`` or created with ``signoff keys``) one in no group."""
    found = await services.reviewers.get(name)
    record = found if found is not None else ReviewerRecord(name=name, stored=False)
    from_policy = services.policies.compiled.groups_of(name)  # the policy file's groups
    if from_policy and record.active:
        record = replace(record, groups=record.groups | from_policy)
    return record


async def directory(services: Services) -> tuple[set[str], dict[str, set[str]]]:
    """Names that can decide (active records and holders of reviewer tokens), and the
    members of each group (active reviewers only)."""
    records = await services.reviewers.all()
    inactive = {r.name for r in records if not r.active}
    names = {r.name for r in records if r.active} | (services.keyring.names("reviewer") - inactive)
    groups: dict[str, set[str]] = {}
    for record in records:
        if record.active:
            for group in record.groups:
                groups.setdefault(group, set()).add(record.name)
    for group, members in services.policies.compiled.members().items():
        groups.setdefault(group, set()).update(members - inactive)  # the policy file's
    return names, groups


async def record_groups(services: Services) -> set[str]:
    """Groups active reviewers' records put them in: a policy may route to these without
    defining them in its own ``groups``."""
    records = await services.reviewers.all()
    return {group for record in records if record.active for group in record.groups}


def to_wire(record: ReviewerRecord) -> Reviewer:
    return Reviewer(
        name=record.name,
        email=record.email,
        groups=sorted(record.groups),
        notify=[targets.mask_target(t) for t in record.notify],
        active=record.active,
        created_at=record.created_at,
        configured=not record.stored,
    )


async def listing(services: Services) -> list[Reviewer]:
    """Stored reviewers, and token holders with no record yet (``configured``)."""
    records = await services.reviewers.all()
    stored = {r.name for r in records}
    extra = sorted(services.keyring.names("reviewer") - stored)
    return [to_wire(r) for r in records] + [
        to_wire(ReviewerRecord(name=n, stored=False)) for n in extra
    ]


async def get(services: Services, name: str) -> Reviewer:
    record = await services.reviewers.get(name)
    if record is not None:
        return to_wire(record)
    if name in services.keyring.names("reviewer"):
        return to_wire(ReviewerRecord(name=name, stored=False))
    raise NotFound("reviewer", name)


async def add(services: Services, body: ReviewerCreate) -> ReviewerCreated:
    """A new reviewer and their first token (shown in this answer only), stored together."""
    try:
        async with write(services.reviewers.engine) as conn:
            if await services.reviewers.get(body.name, conn) is not None:
                raise Conflict(f"reviewer {body.name} already exists", "reviewer_exists")
            await services.reviewers.insert(
                conn, body.name, body.email, body.groups, _chat_targets(body.notify)
            )
            _, token = await insert_key(conn, "reviewer", body.name)
    except IntegrityError:  # a concurrent add of the same name committed first
        raise Conflict(f"reviewer {body.name} already exists", "reviewer_exists") from None
    await reload_keys(services)
    record = await services.reviewers.get(body.name)
    assert record is not None
    return ReviewerCreated(**to_wire(record).model_dump(), token=token)


def _chat_targets(values: list[str]) -> list[str]:
    try:
        return targets.chat_targets(values)
    except ValueError as exc:
        raise Invalid(str(exc), "bad_target") from None


async def update(services: Services, name: str, body: ReviewerUpdate) -> Reviewer:
    """Replace what ``body`` gives. A token holder with no record gets one (so groups can
    be given to ``--reviewer-token`` reviewers); deactivating revokes stored tokens."""
    given = body.model_dump(exclude_unset=True)
    # null clears an email; for the others (a list, a flag) it means "not given"
    values = {key: value for key, value in given.items() if value is not None or key == "email"}
    if not values:
        raise Invalid("give email, groups, notify or active")
    if values.get("notify") is not None:
        values["notify"] = _chat_targets(values["notify"])
    async with write(services.reviewers.engine) as conn:
        record = await services.reviewers.get(name, conn)
        if record is None:
            if name not in services.keyring.names("reviewer"):
                raise NotFound("reviewer", name)
            await services.reviewers.insert(conn, name, None, [])
        await services.reviewers.update(conn, name, values)
        if values.get("active") is False:
            await services.reviewers.revoke_tokens(conn, name)
    await reload_keys(services)
    return await get(services, name)


async def remove(services: Services, name: str) -> Reviewer:
    """Deactivate: the record stays for the audit trail, the tokens stop working at once
    (a configured ``--reviewer-token`` keeps authenticating until the flag is removed,
    but an inactive reviewer may decide nothing)."""
    return await update(services, name, ReviewerUpdate(active=False))


async def groups(services: Services) -> list[Group]:
    _, members = await directory(services)
    return [Group(name=name, members=sorted(names)) for name, names in sorted(members.items())]


async def reload_keys(services: Services) -> None:
    """This process sees a new or revoked token at once; others within ``keyring_refresh``."""
    settings = services.settings
    configured = configured_entries(
        settings.api_keys, settings.reviewer_tokens, settings.admin_keys
    )
    services.keyring.entries = configured + await stored_entries(services.reviewers.engine)

"""The reviewer's web pages, served by ``signoff serve`` from the package itself."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from signoff.server.ui import links as link_pages
from signoff.server.ui import router as approvals_pages
from signoff.server.ui import subscriptions as subscription_pages
from signoff.server.ui.render import STATIC_DIR, STATIC_PREFIX

router = APIRouter(include_in_schema=False)
router.include_router(approvals_pages.router)
router.include_router(subscription_pages.router)
router.include_router(link_pages.router)


def static_files() -> StaticFiles:
    """The pages' CSS and JavaScript: shipped in the package, no CDN."""
    return StaticFiles(directory=STATIC_DIR)


__all__ = ["STATIC_PREFIX", "router", "static_files"]

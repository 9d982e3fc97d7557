"""The reviewer's web pages, served by ``signoff serve`` from the package itself."""

from __future__ import annotations

from starlette.staticfiles import StaticFiles

from signoff.server.ui.render import STATIC_DIR, STATIC_PREFIX
from signoff.server.ui.router import router


def static_files() -> StaticFiles:
    """The pages' CSS and JavaScript: shipped in the package, no CDN."""
    return StaticFiles(directory=STATIC_DIR)


__all__ = ["STATIC_PREFIX", "router", "static_files"]

"""The dashboard page's files (dashboard_page/: HTML, CSS, JS, no CDN) and the headers they are served with."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from queue_services.errors import NotFound

PAGE_DIRECTORY = Path(__file__).parent / "dashboard_page"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
# Only the page's own files: scripts and styles from this origin, data from this API, nothing framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def asset(name: str) -> tuple[str, str]:
    """A page file's text and content type; NotFound for any name that is not one of the page's files."""
    path = PAGE_DIRECTORY / name
    content_type = _CONTENT_TYPES.get(path.suffix)
    if content_type is None or "/" in name or name.startswith(".") or not path.is_file():
        raise NotFound("no such file")
    return path.read_text(encoding="utf-8"), content_type


def page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }

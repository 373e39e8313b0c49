"""The api's routers and the template's Api events are the same set of routes: none unreachable, none unserved."""

from __future__ import annotations

import re

from local_stack.routing import routes_from_template
from local_stack.template import load_template
from queue_services.api import build_api


def resolver_routes() -> set[tuple[str, str]]:
    """Every route the resolver serves, in the OpenAPI document or not (the page, its files, the docs)."""
    app = build_api()
    return {
        (route.method.upper(), re.sub(r"<(\w+)>", r"{\1}", route.path))
        for route in app._static_routes + app._dynamic_routes
    }


def test_the_openapi_document_lists_every_route_but_the_pages() -> None:
    paths = build_api().get_openapi_schema().paths or {}
    documented = {
        (method.upper(), path)
        for path, item in paths.items()
        for method in ("get", "put", "post", "delete", "patch")
        if getattr(item, method, None) is not None
    }
    pages = {
        ("GET", "/admin/queues"),
        ("GET", "/admin/queues/assets/{name}"),
        ("GET", "/api/docs"),
        ("GET", "/api/openapi.json"),
    }
    assert documented == resolver_routes() - pages


# Preflight goes to the api function for every path; the resolver's CORSConfig answers it, not a route.
PREFLIGHT = ("OPTIONS", "/{proxy+}")


def test_template_api_events_and_resolver_routes_are_the_same_set() -> None:
    template = {(r.method, r.resource) for r in routes_from_template(load_template()) if r.function_id == "ApiFunction"}
    assert PREFLIGHT in template
    assert template - {PREFLIGHT} == resolver_routes()

"""The api's routers and the template's Api events are the same set of routes: none unreachable, none unserved."""

from __future__ import annotations

from local_stack.routing import routes_from_template
from local_stack.template import load_template
from queue_services.api import build_api


def resolver_routes() -> set[tuple[str, str]]:
    paths = build_api().get_openapi_schema().paths or {}
    return {
        (method.upper(), path)
        for path, item in paths.items()
        for method in ("get", "put", "post", "delete", "patch")
        if getattr(item, method, None) is not None
    }


# Preflight goes to the api function for every path; the resolver's CORSConfig answers it, not a route.
PREFLIGHT = ("OPTIONS", "/{proxy+}")


def test_template_api_events_and_resolver_routes_are_the_same_set() -> None:
    template = {(r.method, r.resource) for r in routes_from_template(load_template()) if r.function_id == "ApiFunction"}
    assert PREFLIGHT in template
    assert template - {PREFLIGHT} == resolver_routes()

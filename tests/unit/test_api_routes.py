"""The api's routers and the template's Api events are the same set of routes: none unreachable, none unserved."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from local_stack.routing import routes_from_template
from local_stack.template import load_template
from queue_services.routes import ROUTERS


def resolver_routes() -> set[tuple[str, str]]:
    app = APIGatewayRestResolver(enable_validation=True)
    for router in ROUTERS:
        app.include_router(router)
    paths = app.get_openapi_schema().paths or {}
    return {
        (method.upper(), path)
        for path, item in paths.items()
        for method in ("get", "put", "post", "delete", "patch")
        if getattr(item, method, None) is not None
    }


def test_template_api_events_and_resolver_routes_are_the_same_set() -> None:
    template = {(r.method, r.resource) for r in routes_from_template(load_template()) if r.function_id == "ApiFunction"}
    assert template == resolver_routes()

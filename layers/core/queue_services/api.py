"""The api function's resolver: every Router included, errors translated in one place (http_errors)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import CORSConfig

from queue_services.http_errors import register_error_handlers
from queue_services.openapi_docs import add_docs
from queue_services.routes import ROUTERS


def build_api(cors: CORSConfig | None = None, docs: bool = True) -> APIGatewayRestResolver:
    """The resolver functions/api/app.py serves; its OpenAPI document is the one the fuzz tests start from.

    With a CORS config (queue_services.cors), answers to its origins carry CORS headers and preflight
    requests are answered.
    """
    app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500, cors=cors)
    register_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    if docs:
        add_docs(app)
    return app

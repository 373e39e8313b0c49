"""The local API gateway's HTTP server: serves an ApiRouter on 127.0.0.1 and logs one line per request."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from local_stack.routing import ApiRouter

log = logging.getLogger("local_stack.gateway")

# Ids a user searches the log for, from a JSON answer or the path.
_LOGGED_IDS = ("messageId", "broadcastId", "keyId")


def ids_of(response: Response) -> dict[str, str]:
    """The ids a request line shows, from a (small) JSON answer; path parameters are in the path already."""
    found: dict[str, str] = {}
    if response.mimetype == "application/json" and (response.content_length or 0) < 65_536:
        try:
            body = json.loads(response.get_data())
        except ValueError:
            body = None
        if isinstance(body, dict):
            found.update({key: str(body[key]) for key in _LOGGED_IDS if isinstance(body.get(key), str)})
    return found


class LocalGateway:
    """A threaded HTTP server on 127.0.0.1 that behaves like the REST API of template.yaml."""

    def __init__(self, router: ApiRouter, port: int) -> None:
        self.router = router
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> LocalGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.monotonic()
        response = self.router.handle(request)
        ids = " ".join(f"{key}={value}" for key, value in ids_of(response).items())
        # The route's template path, not the request's: a path holds whatever a caller put in it (a number,
        # an address, a text), and logs never hold those. The ids of the answer say which message it was.
        log.info(
            "%s %s %s %.0fms%s",
            request.method,
            self.router.resource_of(request.method, request.path),
            response.status_code,
            (time.monotonic() - started) * 1000,
            f" {ids}" if ids else "",
        )
        return response(environ, start_response)

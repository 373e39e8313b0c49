"""`python -m local_stack` (and `make run`): the whole service on one machine, no Docker, no AWS account."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from local_stack.routing import routes_from_template
from local_stack.stack import SEED_API_KEYS, LocalStack, StackConfig, StackError

EPILOG = """environment variables:
  QS_API_PORT   API gateway port (default 3000)
  QS_AWS_PORT   AWS emulator (moto server) port (default 4566)
  QS_SINK_PORT  provider sink port (default 3001)
Every address is bound to 127.0.0.1. Ctrl-C stops everything."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack",
        description="Run Queue Services locally: API gateway, AWS emulator (moto), SQS pollers, "
        "EventBridge Scheduler firing and a fake SMS/email provider, all from template.yaml.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api-port", type=int, help="overrides QS_API_PORT")
    parser.add_argument("--aws-port", type=int, help="overrides QS_AWS_PORT")
    parser.add_argument("--sink-port", type=int, help="overrides QS_SINK_PORT")
    parser.add_argument("--template", type=Path, help="SAM template to run (default: template.yaml)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override, e.g. --param SmsRatePerSecond=20 (repeatable)",
    )
    parser.add_argument(
        "--handler-log-level",
        help="Powertools log level of the handlers (default INFO: one line per message and per batch;"
        " WARNING with --quiet)",
    )
    parser.add_argument("--raw-logs", action="store_true", help="print the handlers' Powertools JSON lines as they are")
    parser.add_argument("--emf", action="store_true", help="print the handlers' CloudWatch EMF metric lines")
    parser.add_argument("--quiet", action="store_true", help="no per-request and per-batch log lines")
    return parser.parse_args(argv)


def banner(stack: LocalStack) -> str:
    assert stack.gateway is not None
    api = stack.gateway.url
    routes = routes_from_template(stack.template)
    guarded = any(route.authorizer_id for route in routes)
    served = {route.resource for route in routes}
    dashboard = f"{api}/admin/queues   (enter a key below)" if "/admin/queues" in served else "(not in template.yaml)"
    parameters = stack.resolver.parameters if stack.resolver is not None else {}
    docs_on = "/api/docs" in served and parameters.get("ApiDocs", "true") != "false"
    docs = f"{api}/api/docs   (OpenAPI document: {api}/api/openapi.json)" if docs_on else "(off: ApiDocs=false)"
    keys = ", ".join(f"{key} → {owner}" for key, owner in SEED_API_KEYS.items())
    key_note = "" if guarded else "   (not enforced yet: template.yaml has no authorizer)"
    return f"""
Queue Services local stack is up.
  API               {api}
  dashboard         {dashboard}
  API docs          {docs}
  health            {api}/health
  metrics           {api}/api/metrics
  provider sink     {stack.sink_url}   (GET /_sink/messages, PUT /_sink/faults)
  AWS emulator      {stack.aws_url}   (aws --endpoint-url {stack.aws_url} ...; boto3: AWS_ENDPOINT_URL)
  API keys          {keys}{key_note}

Try it:
  curl -s -X POST {api}/api/schedule-sms -H 'Content-Type: application/json' -H 'x-api-key: local-key-123' \\
    -d '{{"phoneNumber": "+1234567890", "message": "Your message content", "contactId": "contact-uuid",
         "workspaceId": "workspace-123", "delay": 0,
         "metadata": {{"source": "campaign", "campaignId": "campaign-uuid"}}}}'
  curl -s {stack.sink_url}/_sink/messages?channel=sms

Ctrl-C stops everything.
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)-20s %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    parameters = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"error: --param needs NAME=VALUE, got {item!r}", file=sys.stderr)
            return 2
        parameters[name] = value
    config = StackConfig.from_environment(
        api_port=args.api_port,
        aws_port=args.aws_port,
        sink_port=args.sink_port,
        template=args.template,
        log_level=args.handler_log_level or ("WARNING" if args.quiet else "INFO"),
        raw_logs=args.raw_logs,
        emf=args.emf,
    )
    config.parameters = parameters
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack = LocalStack(config)
    try:
        stack.start()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(banner(stack), flush=True)
    stop.wait()
    print("stopping…", flush=True)
    stack.stop()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

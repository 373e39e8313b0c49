"""Cold start benchmark: each function's INIT (importing its app.py) and first invocation, against a bare
import of exactly the third-party modules that INIT loads, side by side in fresh interpreters.

Usage: python bench/cold_start.py [--runs 10] [--record]

INIT is what Lambda bills before the first event: importing functions/<name>/app.py (which builds the
resolver, reads the settings, imports the layer). "bare" imports, in a fresh interpreter, the third-party
top-level modules `python -X importtime` shows that import loading (boto3, aws_lambda_powertools, ...):
the floor the code cannot go below without dropping a library. The first invocation runs one sample event
through the handler against the emulator (every AWS client is built then), timed on its own. Medians
of --runs fresh interpreters, alternating INIT and bare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from recording import RESULTS, ROOT, current_commit, publish  # noqa: E402 - bench/ is not a package

FUNCTIONS = {
    "ApiFunction": ("api", "api_health.json"),
    "AuthorizerFunction": ("authorizer", "authorizer_token.json"),
    "SmsWorkerFunction": ("sms_worker", "sqs_sms_worker.json"),
    "EmailWorkerFunction": ("email_worker", "sqs_email_worker.json"),
}
# A fresh interpreter that imports one app.py and times it, then runs its first event. Its AWS calls go to
# the emulator (AWS_ENDPOINT_URL), a process of its own, as a function's go to AWS: nothing of moto is
# loaded here, so the import pays for every library itself.
PROBE = r"""
import json, sys, time
mode, directory, event_name = sys.argv[1], sys.argv[2], sys.argv[3]
modules = json.loads(sys.argv[4])
if mode == "bare":
    started = time.perf_counter()
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            pass  # an optional import the libraries try and do without (brotli, OpenSSL...), as in INIT
    print(json.dumps({"bare_ms": (time.perf_counter() - started) * 1000}))
    raise SystemExit
sys.path.insert(0, directory)
started = time.perf_counter()
import app
init_ms = (time.perf_counter() - started) * 1000
event = json.load(open(event_name))
sys.path.insert(0, sys.argv[6])
from local_stack.lambda_context import LocalLambdaContext
context = LocalLambdaContext(sys.argv[5], 512, 30)
started = time.perf_counter()
try:
    app.lambda_handler(event, context)
except Exception as exc:
    print(f"first invocation raised {type(exc).__name__}: {exc}", file=sys.stderr)
first_ms = (time.perf_counter() - started) * 1000
print(json.dumps({"init_ms": init_ms, "first_ms": first_ms}))
"""


def third_party_modules(directory: Path, logical_id: str) -> tuple[list[str], list[tuple[str, float]]]:
    """The third-party modules importing app.py loads, and the costliest packages (their own modules' ms),
    from `python -X importtime` in a fresh interpreter (stdlib, the layer and the handler left out)."""
    script = (
        "import os, sys, json; os.environ.update(json.loads(sys.argv[1])); sys.path.insert(0, sys.argv[2]); import app"
    )
    answer = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script, json.dumps(probe_environment(logical_id)), str(directory)],
        capture_output=True,
        text=True,
        cwd=directory,
        env=probe_environment(logical_id),
        check=True,
    )
    stdlib = set(sys.stdlib_module_names)
    loaded: list[str] = []
    roots: dict[str, float] = {}
    for line in answer.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)$", line)
        if not match:
            continue
        own, name = int(match.group(1)), match.group(2)
        top = name.split(".")[0]
        if top in stdlib or top in ("app", "queue_services", "sitecustomize", "_distutils_hack") or top.startswith("_"):
            continue
        loaded.append(name)  # every third-party module, submodules included, in the order they finished
        # A package's cost: the import time of its own modules (not of what they import from elsewhere).
        roots[top] = roots.get(top, 0.0) + own / 1000
    ranked = sorted(roots.items(), key=lambda item: -item[1])
    return loaded, ranked[:6]


_ENVIRONMENTS: dict[str, dict[str, str]] = {}


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    """The local stack's AWS emulator on a free port, every resource of the template provisioned in it."""
    import socket

    import boto3

    from local_stack.provision import provision
    from local_stack.template import Resolver, function_environment, load_template

    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    command = [sys.executable, "-m", "local_stack.emulator", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
    for _ in range(100):
        try:
            session.client("sqs", endpoint_url=url).list_queues()
            break
        except Exception:
            time.sleep(0.2)
    template = load_template()
    resolver = Resolver(template, {})
    provision(resolver, session, endpoint_url=url)
    for logical_id in FUNCTIONS:
        _ENVIRONMENTS[logical_id] = {
            **function_environment(template, resolver, logical_id),
            "AWS_ENDPOINT_URL": url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            # No X-Ray daemon here; Lambda's is a UDP send that costs the handler nothing.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    return process, url


def probe_environment(logical_id: str) -> dict[str, str]:
    """What a probe interpreter runs with: the function's variables, and the layer on the path as on Lambda."""
    return {
        **_ENVIRONMENTS[logical_id],
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT / "layers" / "core"),
    }


def probe(mode: str, logical_id: str, modules: list[str]) -> dict[str, float]:
    directory, event = FUNCTIONS[logical_id]
    arguments = [str(ROOT / "functions" / directory), str(ROOT / "events" / event), json.dumps(modules)]
    answer = subprocess.run(
        [sys.executable, "-c", PROBE, mode, *arguments, logical_id, str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT / "functions" / directory,
        env=probe_environment(logical_id),
        check=True,
    )
    result: dict[str, float] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result


def measure(runs: int) -> list[dict[str, Any]]:
    emulator, _ = start_emulator()
    try:
        return [measure_function(logical_id, directory, runs) for logical_id, (directory, _) in FUNCTIONS.items()]
    finally:
        emulator.terminate()
        emulator.wait(timeout=15)


def measure_function(logical_id: str, directory: str, runs: int) -> dict[str, Any]:
    modules, costliest = third_party_modules(ROOT / "functions" / directory, logical_id)
    inits, firsts, bares = [], [], []
    for _ in range(runs):
        measured = probe("init", logical_id, modules)
        inits.append(measured["init_ms"])
        firsts.append(measured["first_ms"])
        bares.append(probe("bare", logical_id, modules)["bare_ms"])
    init, bare, first = statistics.median(inits), statistics.median(bares), statistics.median(firsts)
    print(f"{logical_id}: INIT {init:.0f} ms, bare {bare:.0f} ms, first invocation {first:.0f} ms")
    return {
        "function": logical_id,
        "init_ms": init,
        "bare_ms": bare,
        "ratio": init / bare if bare else float("nan"),
        "first_ms": first,
        "init_range": (min(inits), max(inits)),
        "modules": modules,
        "costliest": costliest,
    }


def report(rows: list[dict[str, Any]], runs: int) -> str:
    commit = current_commit()
    lines = [
        f"### Cold start ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {platform.python_version()}, "
        f"commit {commit})",
        "",
        f"`python bench/cold_start.py --runs {runs}`: medians of {runs} fresh interpreters each, INIT and bare "
        "alternating. The first invocation runs the function's sample event (events/) against the emulator.",
        "",
        "| function | INIT (import app.py) | bare third-party imports | ratio | first invocation "
        "| largest packages (own import time) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        costly = ", ".join(f"{name} {ms:.0f} ms" for name, ms in row["costliest"][:4])
        lines.append(
            f"| {row['function']} | {row['init_ms']:.0f} ms | {row['bare_ms']:.0f} ms | {row['ratio']:.2f}x | "
            f"{row['first_ms']:.0f} ms | {costly} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--record", action="store_true", help=f"append the table to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    text = report(measure(args.runs), args.runs)
    publish(text, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())

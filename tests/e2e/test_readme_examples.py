"""Every curl example of the README runs as pasted against the local stack, so the examples cannot drift."""

from __future__ import annotations

import re
import subprocess

from tests.support.local_stack_process import ROOT, LocalStackProcess, wait_until

_FENCE = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)
_ASSIGNMENT = re.compile(r"^[A-Z_]+=")
DEFAULT_API, DEFAULT_SINK, DEFAULT_AWS = "http://127.0.0.1:3000", "http://127.0.0.1:3001", "http://127.0.0.1:4566"


def command_lines(block: str) -> list[str]:
    """The first line of each command of the block: comments, quoted text spanning lines and `\\`
    continuations left out."""
    lines, continued, in_quote = [], False, False
    for line in block.splitlines():
        stripped = line.strip()
        if not continued and not in_quote and stripped and not stripped.startswith("#"):
            lines.append(stripped)
        # Single quotes open and close literal text (no escapes inside); double quotes never span lines here.
        in_quote = in_quote != (line.count("'") % 2 == 1)
        continued = stripped.endswith("\\")
    return lines


def curl_blocks(readme: str) -> list[str]:
    """The bash blocks made only of curl calls and variable assignments (the ones a user pastes)."""
    blocks = []
    for block in _FENCE.findall(readme):
        commands = command_lines(block)
        if commands and all(c.startswith("curl ") or _ASSIGNMENT.match(c) for c in commands):
            blocks.append(block)
    return blocks


def test_the_readme_has_curl_examples_for_every_route_family() -> None:
    blocks = "\n".join(curl_blocks((ROOT / "README.md").read_text()))
    for route in ("schedule-sms", "schedule-email", "api/messages/$ID", "api/metrics", "api/admin/dlq", "health"):
        assert route in blocks, route


def test_every_curl_example_runs_against_the_local_stack(stack: LocalStackProcess) -> None:
    blocks = curl_blocks((ROOT / "README.md").read_text())
    script = [
        "set -euo pipefail",
        # Any answer of 400 or more fails the block, with the answer's body shown.
        'curl() { command curl --fail-with-body --show-error "$@"; }',
    ]
    for number, block in enumerate(blocks, start=1):
        text = block.replace(DEFAULT_API, stack.api).replace(DEFAULT_SINK, stack.sink).replace(DEFAULT_AWS, stack.aws)
        script += [f"echo '--- block {number}' >&2", text, "echo"]
    result = subprocess.run(  # noqa: S603 - our own README's examples
        ["/bin/bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{result.stderr[-2000:]}\n{result.stdout[-2000:]}"
    assert result.stderr.count("--- block") == len(blocks) >= 10
    # What the examples asked for happened: the seed SMS and email reached the provider.
    wait_until(lambda: {m["channel"] for m in stack.sink_messages()} >= {"sms", "email"}, timeout=20)

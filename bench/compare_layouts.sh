#!/usr/bin/env bash
# Side-by-side drains of another commit and this checkout, alternating, each run on a fresh stack.
# Usage: bench/compare_layouts.sh <commit> [rounds]   (e.g. 5c89e5e 2); prints each run's summary.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
commit="$1"
rounds="${2:-2}"
other="$(mktemp -d)/other"
git -C "$here" worktree add --detach "$other" "$commit" >/dev/null
ln -s "$here/.venv" "$other/.venv"
trap 'git -C "$here" worktree remove --force "$other"' EXIT
summary='accept|drain|rate|max in|dupl|missing|^  total|memory'
for round in $(seq 1 "$rounds"); do
  for channel in sms email; do
    # The other layout with a lead long enough that its posting ends before the common sendAt.
    echo "== round $round, $commit, $channel"
    (cd "$other" && .venv/bin/python bench/broadcast.py --channel "$channel" --lead 38 2>&1 | grep -E "$summary")
    echo "== round $round, this checkout, $channel"
    (cd "$here" && .venv/bin/python bench/broadcast.py --channel "$channel" 2>&1 | grep -E "$summary")
  done
done

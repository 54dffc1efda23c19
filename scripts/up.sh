#!/usr/bin/env bash
# The README's first command: install everything (scripts/bootstrap.sh), then start the
# whole stack with `vigil up` (PostgreSQL, monitoring schema, demo database and workload,
# exporter, router, Prometheus, Alertmanager and the notification sink).
# Arguments go to `vigil up`, e.g. `./scripts/up.sh --detach`. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/vigil up "$@"

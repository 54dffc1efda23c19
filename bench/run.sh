#!/usr/bin/env bash
# Run the benchmarks (figures in docs/benchmarks.md). Installs what they need on top of the
# project's own set-up: wrk (the load generator) and Debian's prometheus-postgres-exporter
# (the exporter vigil is measured against); the audit benchmark installs
# postgresql-15-pgaudit itself if missing. Arguments go to the exporter benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL_EXTRA_APT="wrk prometheus-postgres-exporter" bash scripts/bootstrap.sh
# name, what it measures, and its arguments (the exporter benchmark takes this script's own)
run() {
  local script=$1 title=$2
  shift 2
  echo "== ${title} =="
  .venv/bin/python "bench/${script}.py" "$@"
}
run exporter_bench "exporter (vigil vs postgres_exporter, wrk -t2 -c4)" "$@"
run router_ingest "router (ingest, and firing with 10,000 open alerts)"
run audit_throughput "audited write throughput (#16: plain vs vigil audit vs pgaudit, pgbench 8/32 clients)"
run collector_cost "collector cost (DB time per built-in collector run at 1e5/1e6/1e7 rows of history)"
run incident_cost "incident logs/traffic cost (#12: at 1e5/1e6/1e7 rows of access and audit history)"
run containment_cost "containment cost (#12: none vs tenant quarantined vs actor contained, pgbench 8 clients)"
run hold_trim_cost "retention under legal hold (#12: one pass, 015 vs 018, 1e6 access rows; --rows 1e7)"

#!/usr/bin/env bash
# Run the benchmarks (figures in docs/benchmarks.md). Installs what they need on top of the
# project's own set-up: wrk (the load generator) and Debian's prometheus-postgres-exporter
# (the exporter vigil is measured against); the audit benchmark installs
# postgresql-15-pgaudit itself if missing. Arguments go to the exporter benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL_EXTRA_APT="wrk prometheus-postgres-exporter" bash scripts/bootstrap.sh
echo "== exporter (vigil vs postgres_exporter, wrk -t2 -c4) =="
.venv/bin/python bench/exporter_bench.py "$@"
echo "== router (ingest, and firing with 10,000 open alerts) =="
.venv/bin/python bench/router_ingest.py
echo "== audited write throughput (#16: plain vs vigil audit vs pgaudit, pgbench 8/32 clients) =="
.venv/bin/python bench/audit_throughput.py
echo "== collector cost (DB time per built-in collector run at 1e5/1e6/1e7 rows of history) =="
.venv/bin/python bench/collector_cost.py
echo "== incident logs/traffic cost (#12: at 1e5/1e6/1e7 rows of access and audit history) =="
.venv/bin/python bench/incident_cost.py
echo "== containment cost (#12: none vs tenant quarantined vs actor contained, pgbench 8 clients) =="
.venv/bin/python bench/containment_cost.py
echo "== retention under legal hold (#12: one pass, 015 vs 018, 1e6 access rows; --rows 1e7) =="
.venv/bin/python bench/hold_trim_cost.py

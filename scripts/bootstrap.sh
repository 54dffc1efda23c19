#!/usr/bin/env bash
# Shared set-up for scripts/up.sh and scripts/test.sh: Debian packages, PostgreSQL,
# the .venv. Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# 1. Debian packages: Prometheus and Alertmanager (real ones, for the stack and the tests).
# chromium: the report tests open report.html in a real headless browser (tests/report).
# chromium-driver: the console's browser tests drive that Chromium through selenium
# (tests/console); Debian's driver matches Debian's browser version, no download at test time.
APT_PKGS=(prometheus prometheus-alertmanager python3-venv chromium chromium-driver)
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  APT_PKGS+=(postgresql)
fi
# More packages for a caller that needs them (bench/run.sh: wrk, postgres_exporter).
read -r -a extra <<< "${VIGIL_EXTRA_APT:-}"
APT_PKGS+=("${extra[@]}")
missing=()
for p in "${APT_PKGS[@]}"; do
  [ -n "$p" ] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >&2
  # A policy-rc.d that says 101 keeps the packages from starting their own daemons on
  # 9090/9093, which would collide with the stack vigil starts with its own configs.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  rc=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2 || rc=$?
  [ -z "$made_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
  [ "$rc" -eq 0 ] || { echo "apt-get install failed (exit $rc)" >&2; exit "$rc"; }
fi

# 2. PostgreSQL on 127.0.0.1:5432, started if it is down.
PG_VERSION="${PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)}"
PG_VERSION="${PG_VERSION:-15}"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  say "starting PostgreSQL $PG_VERSION"
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start >&2 || true
  for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break
    sleep 1
  done
  pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
fi

# 3. The virtualenv, reinstalled only when pyproject.toml changes.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv >&2
fi
stamp=".venv/.vigil-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing vigil and its dependencies into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' >&2
  echo "$want" > "$stamp"
fi

#!/usr/bin/env bash
# The PostgreSQL server the store and control-plane suites run against a second time:
#   scripts/postgres-test.sh        installs Debian's postgresql if missing, starts its cluster,
#                                   makes the role 'portal_test' (may create databases) and prints
#                                   the connection string for PORTAL_TEST_POSTGRES
#   scripts/postgres-test.sh drop   drops every database the tests made (portal_test_*)
# Each test host gets a database of its own (Portal.Tests/Persistence/TestDatabase.cs).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
psql_admin() { $SUDO su postgres -c "psql -v ON_ERROR_STOP=1 -qAt $*"; }

if [ "${1:-}" = drop ]; then
  for db in $(psql_admin "-c \"SELECT datname FROM pg_database WHERE datname LIKE 'portal\\_test\\_%'\""); do
    psql_admin "-c 'DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)'" >/dev/null
  done
  exit 0
fi

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
  echo "installing Debian's postgresql" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
read -r ver name port status _ < <(pg_lsclusters -h | head -1)
[ "$status" = online ] || $SUDO pg_ctlcluster "$ver" "$name" start >&2
for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.2; done
pg_isready -q -h 127.0.0.1 -p "$port" || { echo "PostgreSQL $ver/$name did not start on port $port" >&2; exit 1; }
psql_admin >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'portal_test') THEN
    CREATE ROLE portal_test LOGIN CREATEDB PASSWORD 'portal_test';
  END IF;
END $$;
SQL
echo "Host=127.0.0.1;Port=$port;Username=portal_test;Password=portal_test;Timeout=15"

#!/usr/bin/env bash
# Runs every test suite: the .NET tests (unit, integration) and the e2e suites that drive
# the real E2B SDK. Installs what is missing first. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="$ROOT/artifacts/test-results"
rm -rf "$OUT"; mkdir -p "$OUT"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

bash scripts/install-deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; skipped=0
add_counts() { passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3)); }
# A step that failed outside any test report: counted as one failure and named at the end.
step_failed() { echo "$1"; echo "  $1" >>"$OUT/failures.txt"; add_counts 0 1 0; }

# The base sandbox template (debootstrap and apt: minutes on a fresh machine, mostly download and
# unpacking; cached after the first run) is built while envd and the solution compile.
log "building the base sandbox template in the background (cached after the first run)"
bash scripts/build-template.sh base >"$OUT/base-template.log" 2>&1 &
base_template=$!

log "publishing portal-envd"
if ! bash scripts/publish-envd.sh; then
  echo "publishing portal-envd failed"; echo "0 passed, 1 failed"; exit 1
fi

log "building"
if ! dotnet build Portal.sln -c Release -nologo -v q -clp:ErrorsOnly; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

if ! wait "$base_template"; then
  tail -n 30 "$OUT/base-template.log"; echo "building the base template failed"; echo "0 passed, 1 failed"; exit 1
fi
tail -n 1 "$OUT/base-template.log"

# The code-interpreter template's package layer (apt in a chroot: minutes on a fresh machine, mostly
# download and unpacking) is built meanwhile; it stays hidden until its suite makes the template.
bash scripts/build-code-interpreter-template.sh --packages-only >"$OUT/code-interpreter-packages.log" 2>&1 &
ci_packages=$!

log ".NET tests"
# The browser suite runs on its own below: beside the rest, two cores left its Blazor circuits too slow.
dotnet test --solution Portal.sln -c Release --no-build --report-xunit-ctrf --results-directory "$OUT/dotnet" \
  -- --filter-not-namespace 'Portal.Tests.Web.Dashboard.Browser' 2>&1 | tail -n 40
counts=$(node scripts/count-ctrf.mjs "$OUT/dotnet" "$OUT/failures.txt")
add_counts $counts

log ".NET browser tests: the dashboard in Debian's Chromium (Playwright), against the real portal"
# With inline socket completions, as the portal process runs (Program.cs): the suite checks that no
# dashboard circuit code runs on the socket engine's threads.
DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 \
dotnet test --solution Portal.sln -c Release --no-build --report-xunit-ctrf --results-directory "$OUT/dotnet-browser" \
  -- --filter-namespace 'Portal.Tests.Web.Dashboard.Browser' 2>&1 | tail -n 20
counts=$(node scripts/count-ctrf.mjs "$OUT/dotnet-browser" "$OUT/failures.txt")
add_counts $counts

log ".NET store and control-plane tests again, on PostgreSQL (Debian's server, started here)"
if pg=$(bash scripts/postgres-test.sh); then
  PORTAL_TEST_POSTGRES="$pg" dotnet test --solution Portal.sln -c Release --no-build --report-xunit-ctrf --results-directory "$OUT/dotnet-postgres" \
    -- --filter-namespace 'Portal.Tests.Api' --filter-namespace 'Portal.Tests.Persistence' \
    --filter-namespace 'Portal.Tests.Sandboxes' --filter-namespace 'Portal.Tests.Web.Auth' 2>&1 | tail -n 20
  counts=$(node scripts/count-ctrf.mjs "$OUT/dotnet-postgres" "$OUT/failures.txt")
  add_counts $counts
  bash scripts/postgres-test.sh drop
else
  step_failed "PostgreSQL could not be started"
fi

log "e2e: Portal.Envd driven by the real e2b SDK (debug mode)"
bash scripts/e2e-envd.sh "$OUT/e2e-envd.tap"
counts=$(node scripts/count-tap.mjs "$OUT/e2e-envd.tap" "$OUT/failures.txt")
add_counts $counts

log "e2e: the portal (local runtime + envd) driven by the real e2b SDK (non-debug mode)"
bash scripts/e2e-portal.sh "$OUT/e2e-portal.tap"
counts=$(node scripts/count-tap.mjs "$OUT/e2e-portal.tap" "$OUT/failures.txt")
add_counts $counts

log "e2e: sandbox networking (local runtime, fake internet in its own namespace) driven by the real e2b SDK"
bash scripts/e2e-network.sh "$OUT/e2e-network.tap"
rc=$?
counts=$(node scripts/count-tap.mjs "$OUT/e2e-network.tap" "$OUT/failures.txt")
add_counts $counts
# The suite passed but the host's network state was not restored (or the set-up failed): a failure.
[ $rc -ne 0 ] && [ "$(echo "$counts" | cut -d' ' -f2)" = 0 ] && step_failed "e2e-network: the host's network state was not restored, or the set-up failed"
log "e2e: the code interpreter (port 49999) driven by the real @e2b/code-interpreter SDK (local runtime)"
# Its template is made here from the package layer built in the background (cached after the first run).
wait $ci_packages || { echo "the code-interpreter package layer failed to build:"; tail -20 "$OUT/code-interpreter-packages.log"; }
if bash scripts/build-code-interpreter-template.sh; then
  E2E_PORTAL_TESTS="code-interpreter/" bash scripts/e2e-portal.sh "$OUT/e2e-code-interpreter.tap"
  counts=$(node scripts/count-tap.mjs "$OUT/e2e-code-interpreter.tap" "$OUT/failures.txt")
  add_counts $counts
else
  step_failed "building the code-interpreter template failed"
fi

log "e2e: the portal (Kubernetes runtime on the fake API server + fake kubelet) driven by the real e2b SDK"
bash scripts/e2e-portal-kubernetes.sh "$OUT/e2e-portal-kubernetes.tap"
counts=$(node scripts/count-tap.mjs "$OUT/e2e-portal-kubernetes.tap" "$OUT/failures.txt")
add_counts $counts

echo
if [ -s "$OUT/failures.txt" ]; then echo "failed:"; cat "$OUT/failures.txt"; fi
summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

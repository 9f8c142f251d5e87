#!/usr/bin/env bash
# The e2e portal suite (real E2B SDK) through the Kubernetes runtime: a real portal process
# with Portal:Runtime=kubernetes, the repository's appsettings.json (its templates), and a
# kubeconfig pointing at the FAKE Kubernetes API server + FAKE kubelet (Portal.FakeKubernetes,
# a process of its own): every sandbox is a pod whose envd runs as a local process on the pod's
# own 127.B.x.y address, and the portal proxies straight to podIP:port. No cluster is involved.
# Writes a TAP report to $1.
#
# Files left out, and why (only for this runtime; scripts/e2e-portal.sh runs them):
#   portal/resources.test.mjs — fills /tmp and /dev/shm to ENOSPC and hits the memory limit:
#     the fake kubelet gives pods no cgroups and only their own /home, /root, /opt and /tmp
#     directories (no size-capped tmpfs, no /dev/shm of their own), so it would fill this
#     machine's disk and /dev/shm instead of a sandbox's.
#   portal/templates.test.mjs, portal/snapshots.test.mjs — template builds, snapshots and forks
#     copy a sandbox's files into a new template, which only the local runtime can do (this
#     runtime's templates are container images built outside the portal); here the API refuses
#     them with a clear error instead.
# Tests skipped inside the other files (PORTAL_E2E_FAKE_KUBELET=1; each states its reason):
#   io.test.mjs "the default user gets root through passwordless sudo" — needs the base image's
#     sudo and hostname; the fake kubelet runs envd on this machine, not in an image.
set -uo pipefail
cd "$(dirname "$0")/.."
TAP="${1:-artifacts/test-results/e2e-portal-kubernetes.tap}"
dotnet build Portal.FakeKubernetes -c Release -nologo -v q -clp:ErrorsOnly || exit 1
bash scripts/publish-envd.sh >/dev/null
DIR=$(mktemp -d /tmp/fake-kubernetes-XXXXXX)
dotnet Portal.FakeKubernetes/bin/Release/net10.0/Portal.FakeKubernetes.dll \
  --envd "$(realpath artifacts/envd/portal-envd)" --kubeconfig "$DIR/kubeconfig" >"$DIR/fake.log" 2>&1 &
FAKE=$!
trap 'kill -TERM $FAKE 2>/dev/null; wait $FAKE 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 300); do
  grep -q '^ready$' "$DIR/fake.log" 2>/dev/null && break
  kill -0 $FAKE 2>/dev/null || { echo "the fake Kubernetes API server did not start:"; cat "$DIR/fake.log"; exit 1; }
  sleep 0.1
done
grep -q '^ready$' "$DIR/fake.log" || { echo "the fake Kubernetes API server did not become ready"; exit 1; }

if [ -z "${E2E_PORTAL_TESTS:-}" ]; then
  E2E_PORTAL_TESTS=$(cd e2e && ls portal/*.test.mjs | grep -Ev '^portal/(resources|templates|snapshots)\.test\.mjs$' | tr '\n' ' ')
fi
PORTAL_E2E_FAKE_KUBELET=1 PORTAL_RUNTIME=kubernetes KUBECONFIG="$DIR/kubeconfig" PORTAL_SETTINGS="$(realpath appsettings.json)" \
  E2E_PORTAL_TESTS="$E2E_PORTAL_TESTS" bash scripts/e2e-portal.sh "$TAP"
rc=$?
kill -TERM $FAKE 2>/dev/null; wait $FAKE 2>/dev/null
# Proof the suite went through pods: how many the fake kubelet ran, what the portal asked the API server.
grep '^fake kubelet:' "$DIR/fake.log"
if [ $rc -ne 0 ]; then echo "--- fake Kubernetes log (tail) ---"; tail -n 30 "$DIR/fake.log"; fi
exit $rc

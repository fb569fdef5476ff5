# Shared by Scripts/launch-runners and Scripts/stop-runners (sourced, not run).
# Sets: vtafarm (the binary that reads cluster.yaml), ssh_opts, and run() (echo with --dry-run).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vtafarm=${VTAFARM:-}
for candidate in "$here/.build/release/vtafarm" "$here/.build/debug/vtafarm" "$(command -v vtafarm || true)"; do
  [ -z "$vtafarm" ] && [ -n "$candidate" ] && [ -x "$candidate" ] && vtafarm=$candidate
done
[ -n "$vtafarm" ] || { echo "$(basename "$0"): no vtafarm binary (build it, or set VTAFARM)" >&2; exit 1; }
# shellcheck disable=SC2086
ssh_opts=(-o BatchMode=yes -o ConnectTimeout=10 ${VTAFARM_SSH_OPTS:-})
run() { if [ "${dry:-0}" = 1 ]; then printf '%q ' "$@"; echo; else "$@"; fi; }

#!/usr/bin/env bash
# Builds the pinned Temporal server and temporal-sql-tool (tools/temporal-server/go.mod + go.sum) into .tools/bin.
# Go's module cache (GOMODCACHE) and build cache (GOCACHE) live outside the clone, so a fresh clone on a machine
# that built it before only links. Idempotent: skips the build when both binaries match the pinned version.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mod="$root/tools/temporal-server"
bin="$root/.tools/bin"
version=$(sed -n 's/^[[:space:]]*go\.temporal\.io\/server \(v[^ ]*\).*/\1/p' "$mod/go.mod")
stamp="$bin/temporal-server.version"

if [ -x "$bin/temporal-server" ] && [ -x "$bin/temporal-sql-tool" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  echo "temporal-server $version: already built in $bin"
  exit 0
fi
# Go's official tarball installs to /usr/local/go, which a non-login shell may not have on PATH.
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "go is not installed: the Temporal server is built from source (Go >= $(sed -n 's/^go //p' "$mod/go.mod"))" >&2; exit 1; }
mkdir -p "$bin"
start=$(date +%s)
# GOTOOLCHAIN=local: build with the installed Go, never fetch another toolchain behind the user's back.
cd "$mod"
GOTOOLCHAIN=local GOFLAGS=-mod=readonly nice go build -trimpath -o "$bin/temporal-server" go.temporal.io/server/cmd/server
GOTOOLCHAIN=local GOFLAGS=-mod=readonly nice go build -trimpath -o "$bin/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql
echo "$version" >"$stamp"
echo "temporal-server $version: built into $bin in $(($(date +%s) - start))s"

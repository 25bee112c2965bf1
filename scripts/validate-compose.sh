#!/usr/bin/env bash
# Validates docker-compose.yml with compose itself (no Docker engine needed: `config` only parses, resolves and
# checks the file against the compose schema), using the committed *.example env files as the env files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v docker-compose >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/docker-compose.yml" "$work/"
for example in "$root"/.env.*.example; do cp "$example" "$work/$(basename "$example" .example)"; done
(cd "$work" && docker-compose -f docker-compose.yml config -q)
echo "docker-compose.yml: valid ($(docker-compose version --short))"

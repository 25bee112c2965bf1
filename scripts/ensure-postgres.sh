#!/usr/bin/env bash
# Makes sure the local PostgreSQL that the tests use is installed, running and set up, every time it runs:
# role postgres with password postgres, database "test", listening on 127.0.0.1:5432. Idempotent, so a second
# run on the same machine (CI after CI, or `npm test` after CI) finds the same database and credentials.
# The URL it guarantees is test/helpers/postgres.ts's default: postgres://postgres:postgres@127.0.0.1:5432/test
set -euo pipefail

as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }

if ! command -v pg_ctlcluster >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  pg_createcluster "$version" main >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q

# Over the Unix socket as the postgres OS user (peer auth), so it works whatever the password is today.
as_postgres "psql -qAtc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
if [ "$(as_postgres "psql -qAtc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"")" != 1 ]; then
  as_postgres "createdb test"
fi
echo "postgres: ready at postgres://postgres:postgres@127.0.0.1:5432/test"

#!/bin/sh
# Creates Temporal's two databases when missing and migrates them to the schema this temporal-sql-tool embeds.
# Idempotent (as `airlock cluster up`, src/temporal/cluster.ts): setup-schema -v 0.0 only adds the version tables,
# update-schema applies only newer versions. Credentials come from the environment (env_file), never arguments here.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?}"
port="${DB_PORT:-5432}"
# The tool reads the password from SQL_PASSWORD: not on a command line, where `ps` shows it.
export SQL_PASSWORD="$POSTGRES_PWD"
tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$POSTGRES_USER" "$@"; }
for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}
  schema=${db#*:}
  tool --db "$name" create-database 2>/dev/null || echo "database $name exists"
  tool --db "$name" setup-schema -v 0.0
  tool --db "$name" update-schema --schema-name "postgresql/v12/$schema"
done
echo "temporal schema: migrated"

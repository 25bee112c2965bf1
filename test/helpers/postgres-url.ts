/** The admin URL that scripts/ensure-postgres.sh guarantees; AIRLOCK_TEST_PG_URL points the tests elsewhere. */
export const DEFAULT_TEST_PG_URL = 'postgres://postgres:postgres@127.0.0.1:5432/test';

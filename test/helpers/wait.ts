/** Polls until `probe` returns something truthy, and returns it; fails naming what never happened. */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  what: string,
  ms = 30_000,
): Promise<Exclude<T, false | null | undefined>> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value as Exclude<T, false | null | undefined>;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * One process owns an embedded (PGlite) audit store: PGlite is PostgreSQL compiled into the process, and a second
 * process opening the same directory writes over the first's pages (trails went missing). The owner holds a lock file
 * beside the directory, created exclusively (O_EXCL) with its pid; a later opener is refused while that pid lives, and
 * takes over a lock left by a process that died.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Another live process owns the embedded store; the message says what to use instead. */
export class StoreInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `the embedded audit store ${dir} is in use by process ${pid} (airlock dev, serve or worker): one process owns ` +
        'it. Use that stack through its API (the CLI does with AIRLOCK_API_URL and AIRLOCK_TOKEN: approvals ' +
        'approve/reject, audit export), or set AIRLOCK_DATABASE_URL to a PostgreSQL server, which several ' +
        'processes can share.',
    );
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Takes the lock on `dir` for this process, or throws StoreInUseError; returns the release function. */
export function lockStore(dir: string): () => void {
  const file = `${resolve(dir)}.lock`;
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        // Only our own lock: never remove one another process took over.
        if (ownerOf(file) === process.pid) rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = ownerOf(file);
    // Also refused within one process: PGlite cannot share a directory between two instances either.
    if (owner !== undefined && alive(owner)) throw new StoreInUseError(resolve(dir), owner);
    // Left by a process that died (or half-written): take it over. Another opener racing us loses at O_EXCL.
    rmSync(file, { force: true });
  }
  throw new Error(`could not lock the embedded audit store ${dir}: ${file} keeps reappearing`);
}

function ownerOf(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

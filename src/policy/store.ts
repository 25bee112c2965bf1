/**
 * The policy a worker judges with. A reload that fails keeps the last good policy (and says why); the first load
 * must succeed, so a process never starts on an invalid file.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { loadPolicyFile, PolicyLoadError, type CompiledPolicy } from './load';

export type ReloadResult =
  { ok: true; hash: string; changed: boolean } | { ok: false; error: PolicyLoadError; kept: string };

export class PolicyStore {
  private policy: CompiledPolicy;

  constructor(readonly file: string) {
    this.policy = loadPolicyFile(file);
  }

  current(): CompiledPolicy {
    return this.policy;
  }

  reload(): ReloadResult {
    try {
      const next = loadPolicyFile(this.file);
      const changed = next.hash !== this.policy.hash;
      this.policy = next;
      return { ok: true, hash: next.hash, changed };
    } catch (err) {
      if (!(err instanceof PolicyLoadError)) throw err;
      return { ok: false, error: err, kept: this.policy.hash };
    }
  }

  /** Reloads when the file changes (polling its mtime, which also works on network filesystems). */
  watch(onReload: (r: ReloadResult) => void, intervalMs = 1000): () => void {
    const listener = () => onReload(this.reload());
    watchFile(this.file, { interval: intervalMs }, listener);
    return () => unwatchFile(this.file, listener);
  }
}

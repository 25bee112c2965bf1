/** The freeze in force, read afresh: a job paused by a freeze re-checks it now and then (faults-v1). */
import type { FreezeActivities, FreezeReader } from '../src/core/contracts';

export function createFreezeActivities(freeze: FreezeReader): FreezeActivities {
  return {
    async 'freeze.lookup'(agent: string) {
      return (await freeze.lookup(agent)) ?? null;
    },
  };
}

// Measuring what a young-generation GC promotes: how many bytes old space gains while objects churn
// through a container. A container that keeps dead objects reachable from old space (a Set or Map under
// add/delete churn, see src/util/live-set.ts) makes them survive and get promoted.

import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;

function oldSpaceUsed(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;
}

/**
 * Runs `setup` (then full GCs, so what it made is old), then `churn` `rounds` times, then two minor GCs.
 * Returns the bytes old space grew by.
 */
export function promotedDuring(setup: () => void, churn: (i: number) => void, rounds: number): number {
  setup();
  gc();
  gc();
  const before = oldSpaceUsed();
  for (let i = 0; i < rounds; i++) churn(i);
  gc({ type: 'minor' });
  gc({ type: 'minor' });
  return oldSpaceUsed() - before;
}

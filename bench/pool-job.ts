// The job of item 11 (bench/items/pool.ts), for both pools: src/task-worker.ts and Piscina's worker
// each call this module's default export once per job. `spinUs` 0 is a job that costs nothing (what
// is left is the pool's own cost); above, it busy-waits that long (a short model or VAD job).
export interface PoolJob {
  spinUs: number;
}

export default function poolJob({ spinUs }: PoolJob): number {
  if (spinUs <= 0) return 0;
  const until = performance.now() + spinUs / 1000;
  let spins = 0;
  while (performance.now() < until) spins++;
  return spins;
}

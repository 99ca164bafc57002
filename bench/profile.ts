// Summarises a V8 .cpuprofile (from `npm run bench -- --profile`): self time by function and by
// area (onnxruntime, websocket, telemetry, each src/ file, GC, idle), largest first. `--busiest P`
// keeps only the busiest P % of the profile's 100 ms slices (a burst's moments, not its quiet);
// `--skip S` leaves out the first S seconds (start-up, connecting).
//   node bench/profile.ts bench/results/profiles/CPU.*.cpuprofile [--top 25] [--busiest 10] [--skip 6]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives, coarsely: what a capacity discussion needs. */
function area(url: string, name: string): string {
  if (name === '(garbage collector)' || name === '(idle)' || name === '(program)') return name;
  if (url === '' || url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const m = /\/src\/(.+)$/.exec(url);
  return m ? `src/${m[1]}` : url;
}

const SLICE_US = 100_000;

/** The indexes of the busiest `percent` % of the profile's 100 ms slices from `skip` on (busy: not idle). */
function busiestSlices(p: CpuProfile, percent: number, skip: number): Set<number> {
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const busy: number[] = [];
  let at = 0;
  p.samples.forEach((id, i) => {
    at += p.timeDeltas[i] ?? 0;
    const slice = Math.floor(at / SLICE_US);
    busy[slice] = (busy[slice] ?? 0) + (idle.has(id) ? 0 : (p.timeDeltas[i] ?? 0));
  });
  const ranked = [...busy.keys()].filter((i) => i >= skip).sort((a, b) => (busy[b] ?? 0) - (busy[a] ?? 0));
  return new Set(ranked.slice(0, Math.max(1, Math.round((ranked.length * percent) / 100))));
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string', default: '25' }, busiest: { type: 'string' }, skip: { type: 'string', default: '0' } },
    allowPositionals: true,
  });
  const top = Number(values.top);
  const busiest = values.busiest === undefined ? null : Number(values.busiest);
  const skipSlices = Math.round((Number(values.skip) * 1e6) / SLICE_US);
  for (const file of positionals) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const keep = busiest === null && skipSlices === 0 ? null : busiestSlices(p, busiest ?? 100, skipSlices);
    const self = new Map<number, number>();
    let at = 0;
    p.samples.forEach((id, i) => {
      at += p.timeDeltas[i] ?? 0;
      if (keep && !keep.has(Math.floor(at / SLICE_US))) return;
      self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
    });
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    const fn = new Map<string, number>();
    const areas = new Map<string, number>();
    for (const [id, us] of self) {
      const n = byId.get(id)!;
      const { functionName, url, lineNumber } = n.callFrame;
      const key = `${functionName || '(anonymous)'} ${url.replace(/^.*?\/(node_modules|src)\//, '$1/')}:${lineNumber + 1}`;
      fn.set(key, (fn.get(key) ?? 0) + us);
      const a = area(url, functionName);
      areas.set(a, (areas.get(a) ?? 0) + us);
    }
    const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
    const busy = total - (areas.get('(idle)') ?? 0);
    const what = keep ? `in the busiest ${busiest ?? 100} % of its 100 ms slices after ${values.skip} s (${keep.size})` : 'sampled';
    process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s ${what}, main thread busy ${pct(busy)}\n\nby area (self time)\n`);
    for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${a}\n`);
    process.stdout.write('\nby function (self time)\n');
    for (const [k, us] of [...fn].sort((x, y) => y[1] - x[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${k}\n`);
    process.stdout.write('\n');
  }
}

main();

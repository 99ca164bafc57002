// Summarises a V8 .cpuprofile (from `npm run bench -- --profile`): self time by function and by
// area (onnxruntime, websocket, telemetry, each src/ file, GC, idle), largest first. `--busiest P`
// keeps only the busiest P % of the profile's 100 ms slices (a burst's moments, not its quiet);
// `--skip S` leaves out the first S seconds (start-up, connecting). `--per-frame` keeps only the
// load's window that the capacity or burst run wrote beside the profile (`load.<pid>.json`) and
// prints each area's µs of main-thread CPU per frame received (window time / frames sent in it).
// V8 builtins and native code (no script URL: a copy, a typed-array set) count in their caller's
// area; "by part" sums the areas into issue 28's parts of a frame's cost.
//   node bench/profile.ts bench/results/profiles/CPU.*.cpuprofile [--top 25] [--busiest 10] [--skip 6] [--per-frame]
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** What bench/capacity.ts writes beside a profiled server's profile. */
interface LoadWindow {
  streams: number;
  fromUs: number;
  toUs: number;
  frames: number;
}

/** The load window of a main-thread profile `CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile`, if written. */
function loadWindowOf(file: string): LoadWindow | null {
  const m = /^CPU\.\d+\.\d+\.(\d+)\.0\.\d+\.cpuprofile$/.exec(basename(file));
  const sidecar = m ? join(dirname(file), `load.${m[1]}.json`) : null;
  return sidecar && existsSync(sidecar) ? (JSON.parse(readFileSync(sidecar, 'utf8')) as LoadWindow) : null;
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
  if (url === '') return 'node internals';
  // Socket reads and writes share their modules: apart, since frames come in and events go out.
  if (url === 'node:internal/stream_base_commons') return `node:stream_base_commons (${name === 'onStreamRead' ? 'read' : 'write'})`;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:');
  if (url.includes('/node_modules/ws/lib/sender.js')) return 'ws (send)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const m = /\/src\/(.+)$/.exec(url);
  return m ? `src/${m[1]}` : url;
}

const SLICE_US = 100_000;

/** Issue 28's parts of a frame's cost, each a set of areas (the first that matches; the rest: other). */
const PARTS: [part: string, test: (area: string) => boolean][] = [
  ['websocket receive (ws, socket reads)', (a) => a === 'ws' || /^node:(net$|stream_base_commons \(read|streams\/readable|buffer$)/.test(a)],
  ['websocket send (events out: ws sender, socket writes)', (a) => a === 'ws (send)' || /^node:(stream_base_commons \(write|streams\/writable)/.test(a)],
  ['@hono/node-ws copy + MessageEvent (undici)', (a) => a === '@hono/node-ws' || a.startsWith('node:deps/undici')],
  ['decode (src/audio/pcm-decoder)', (a) => a === 'src/audio/pcm-decoder.ts'],
  ['resample (src/audio/resampler, speex)', (a) => a === 'src/audio/resampler.ts' || a.startsWith('@echogarden/')],
  ['OTel records (@opentelemetry, src/telemetry)', (a) => a.startsWith('@opentelemetry/') || a.startsWith('src/telemetry/')],
  ['event dispatch (node:events, event_target, hono)', (a) => /^node:(events|event_target)/.test(a) || a === 'hono'],
  ['VAD on the main thread (src/vad, history)', (a) => a.startsWith('src/vad/') || a === 'src/audio/history.ts'],
  ['worker hand-offs (src/task*, worker ports)', (a) => /^src\/task/.test(a) || /^node:(worker|per_context\/messageport)/.test(a)],
  ['session and pipeline (src/api, src/pipeline)', (a) => a.startsWith('src/api/') || a.startsWith('src/pipeline/')],
  ['timers and microtasks (node:timers, process)', (a) => /^node:(timers|process)/.test(a)],
  ['(garbage collector)', (a) => a === '(garbage collector)'],
  ['(program): V8 and native outside JS', (a) => a === '(program)'],
  ['(idle)', (a) => a === '(idle)'],
];
const partOf = (area: string) => PARTS.find(([, test]) => test(area))?.[0] ?? 'other';

const OWN_AREAS = new Set(['(garbage collector)', '(idle)', '(program)', '(root)']);

/** The node itself, or for code without a script URL (builtins, native) its nearest caller with one. */
function withScript(n: ProfileNode, parentOf: Map<number, number>, byId: Map<number, ProfileNode>): ProfileNode {
  let at = n;
  while (at.callFrame.url === '' && !OWN_AREAS.has(at.callFrame.functionName)) {
    const parent = parentOf.get(at.id);
    if (parent === undefined) return n;
    at = byId.get(parent)!;
  }
  return at.callFrame.functionName === '(root)' ? n : at;
}

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
    options: {
      top: { type: 'string', default: '25' },
      busiest: { type: 'string' },
      skip: { type: 'string', default: '0' },
      'per-frame': { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const top = Number(values.top);
  const busiest = values.busiest === undefined ? null : Number(values.busiest);
  const skipSlices = Math.round((Number(values.skip) * 1e6) / SLICE_US);
  for (const file of positionals) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parentOf = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
    const window = values['per-frame'] ? loadWindowOf(file) : null;
    if (values['per-frame'] && window === null) {
      process.stderr.write(`${file}: no load window beside it (a main-thread profile of a capacity or burst run under --profile)\n`);
      process.exitCode = 1;
      continue;
    }
    const keep = busiest === null && skipSlices === 0 ? null : busiestSlices(p, busiest ?? 100, skipSlices);
    const self = new Map<number, number>();
    let at = 0;
    p.samples.forEach((id, i) => {
      at += p.timeDeltas[i] ?? 0;
      if (keep && !keep.has(Math.floor(at / SLICE_US))) return;
      if (window && (p.startTime + at < window.fromUs || p.startTime + at > window.toUs)) return;
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
      const at = withScript(n, parentOf, byId);
      const a = area(at.callFrame.url, at.callFrame.functionName);
      areas.set(a, (areas.get(a) ?? 0) + us);
    }
    const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
    const busy = total - (areas.get('(idle)') ?? 0);
    const what = keep ? `in the busiest ${busiest ?? 100} % of its 100 ms slices after ${values.skip} s (${keep.size})` : 'sampled';
    const inWindow = window ? ` in the load window (${window.streams} streams, ${window.frames} frames)` : '';
    process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s ${what}${inWindow}, main thread busy ${pct(busy)}\n\nby area (self time)\n`);
    const perFrame = (us: number) => (window ? `${(us / window.frames).toFixed(2).padStart(8)} µs/frame` : '');
    for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}${perFrame(us)}  ${a}\n`);
    if (window) process.stdout.write(`  ${pct(total)}${perFrame(total)}  all (busy: ${perFrame(busy).trim()})\n`);
    process.stdout.write("\nby part (issue 28's areas)\n");
    const parts = new Map<string, number>();
    for (const [a, us] of areas) parts.set(partOf(a), (parts.get(partOf(a)) ?? 0) + us);
    for (const [part] of [...PARTS, ['other']]) process.stdout.write(`  ${pct(parts.get(part) ?? 0)}${perFrame(parts.get(part) ?? 0)}  ${part}\n`);
    process.stdout.write('\nby function (self time)\n');
    for (const [k, us] of [...fn].sort((x, y) => y[1] - x[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${k}\n`);
    process.stdout.write('\n');
  }
}

main();

// The benchmark's output, the same for every item: the results file (one key per item id, beside
// meta, targets and errors), the report on stdout (each item's tables as aligned plain text, then
// the targets), the Markdown the docs hold (bench/render-docs.ts), and a progress bar on a terminal.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import type { BenchItem, Target } from './item.ts';
import { markdownTable, textTable, type Table } from './table.ts';

export interface BenchMeta {
  startedAt: string;
  durationSeconds: number;
  smoke: boolean;
  only: string[];
  node: string;
  cpus: number;
  cpuModel: string;
  /** CPU used by other processes during the second before the start, in cores. */
  otherCoresAtStart: number;
  commit: string | null;
  dirty: boolean | null;
  /** `--set` server settings added to every capacity and burst run (absent: none). */
  serverSettings?: string[];
}

/** bench/results/latest.json: `meta`, `targets`, `errors`, and each item's result under its id. */
export interface BenchResults {
  meta: BenchMeta;
  targets: Target[];
  errors: { item: string; message: string }[];
  [item: string]: unknown;
}

/** The tables of every item present in `r`, in the registry's order. */
function itemTables(r: BenchResults, items: readonly BenchItem[]): Table[] {
  const out: Table[] = [];
  for (const item of items) {
    if (r[item.id] === undefined) continue;
    try {
      out.push(...item.render(r[item.id], r));
    } catch (err) {
      // An earlier results file whose shape the item no longer reads: say so, render the rest.
      out.push({ title: item.title, headers: [], rows: [], notes: [`could not render: ${err instanceof Error ? err.message : String(err)}`] });
    }
  }
  return out;
}

function targetsTable(targets: Target[]): Table {
  return {
    title: 'Targets (reported, not asserted)',
    headers: ['item', 'target', 'measured', 'met'],
    rows: targets.map((t) => [t.item, t.target, t.measured, t.met === null ? '–' : t.met ? 'yes' : 'NO']),
  };
}

/** One line: when, where and what ran. */
export function describeRun(m: BenchMeta): string {
  return (
    `streamer benchmark${m.smoke ? ' (SMOKE: tiny sizes, numbers are not meaningful)' : ''} — ${m.startedAt}, ${m.durationSeconds.toFixed(0)} s, ` +
    `node ${m.node}, ${m.cpus} × ${m.cpuModel}, ${m.commit?.slice(0, 10) ?? '?'}${m.dirty ? ' (dirty tree)' : ''}, ` +
    `other load at start ${m.otherCoresAtStart.toFixed(2)} cores` +
    (m.serverSettings?.length ? `, server settings ${m.serverSettings.join(' ')}` : '')
  );
}

/** Every item's targets, from its result in `r`. */
export function evaluateTargets(r: BenchResults, items: readonly BenchItem[]): Target[] {
  return items.flatMap((item) => (r[item.id] === undefined ? [] : item.targets(r[item.id], r)));
}

/** The report on stdout. */
export function renderReport(r: BenchResults, items: readonly BenchItem[]): string {
  const parts = [describeRun(r.meta), ...[...itemTables(r, items), targetsTable(r.targets)].map(textTable)];
  if (r.errors.length > 0) parts.push(['ERRORS', ...r.errors.map((e) => `  ${e.item}: ${e.message}`)].join('\n'));
  return `${parts.join('\n\n')}\n`;
}

/** The same tables as Markdown (docs/performance.md); the targets evaluated again from the results. */
export function renderMarkdown(r: BenchResults, items: readonly BenchItem[]): string {
  const parts = [describeRun(r.meta), ...[...itemTables(r, items), targetsTable(evaluateTargets(r, items))].map(markdownTable)];
  const absent = items.filter((i) => r[i.id] === undefined).map((i) => i.id);
  if (absent.length > 0) parts.splice(1, 0, `Not in this run: ${absent.join(', ')}.`);
  if (r.errors.length > 0) parts.push(`Items that crashed in this run: ${[...new Set(r.errors.map((e) => e.item))].join(', ')}.`);
  return `${parts.join('\n\n')}\n`;
}

export function writeJson(path: string, r: BenchResults): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
}

/** A progress bar on stderr when it is a terminal; plain step lines otherwise (CI logs). */
export class Progress {
  private readonly bar: cliProgress.SingleBar | null;
  private done = 0;

  private readonly total: number;
  constructor(
    total: number,
    tty = process.stderr.isTTY === true,
  ) {
    this.total = total;
    this.bar = tty
      ? new cliProgress.SingleBar(
          { format: 'bench {bar} {value}/{total} | {duration_formatted} | {label}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.bar?.start(total, 0, { label: 'starting' });
  }

  /** A new step begins. */
  step(label: string): void {
    this.done = Math.min(this.total, this.done + 1);
    if (this.bar) this.bar.update(this.done - 1, { label });
    else process.stderr.write(`[bench ${this.done}/${this.total}] ${label}\n`);
  }

  /** Live detail within a step (terminal only). */
  tick(label: string): void {
    this.bar?.update(Math.max(0, this.done - 1), { label });
  }

  stop(): void {
    this.bar?.update(this.total);
    this.bar?.stop();
  }
}

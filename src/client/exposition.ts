// Reading the service's /metrics (the Prometheus text exposition) from outside: the page's stats,
// and the numbers the tests and the benchmark take from it. No Node APIs and no imports: the page
// loads it from /page/lib/exposition.js.

export type Labels = Record<string, string>;

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const ESCAPED: Record<string, string> = { n: '\n' };

/** The samples of an exposition, in order; throws on a line that is neither a sample nor a comment. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(LABEL)) labels[k] = v.replace(/\\(.)/g, (_, c: string) => ESCAPED[c] ?? c);
    out.push({ name: m[1], labels, value: parseValue(m[3]) });
  }
  return out;
}

/** A sample's value: a float, or Prometheus' `+Inf`, `-Inf`, `NaN`. */
function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** Sum of the samples of `name` whose labels include `match` (0 when there are none). */
export function sumOf(samples: Sample[], name: string, match: Labels = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

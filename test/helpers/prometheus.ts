// A small reader for the Prometheus text exposition, for comparing /metrics with ground truth.

export type Labels = Record<string, string>;

export class Exposition {
  /** series key (name + sorted labels) → value */
  readonly series = new Map<string, number>();

  readonly text: string;
  constructor(text: string) {
    this.text = text;
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line);
      if (!m) throw new Error(`unparsable exposition line: ${line}`);
      const labels: Labels = {};
      for (const [, k, v] of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
      this.series.set(key(m[1], labels), Number(m[4]));
    }
  }

  /** The value of one series; 0 when absent (a counter not yet incremented). */
  value(name: string, labels: Labels = {}): number {
    return this.series.get(key(name, labels)) ?? 0;
  }

  has(name: string, labels: Labels = {}): boolean {
    return this.series.has(key(name, labels));
  }

  /** Sum over every series of `name` whose labels include `labels`. */
  sum(name: string, labels: Labels = {}): number {
    let total = 0;
    for (const [k, v] of this.series) {
      const parsed = parseKey(k);
      if (parsed.name === name && Object.entries(labels).every(([l, val]) => parsed.labels[l] === val)) total += v;
    }
    return total;
  }

  /** The `le` bounds of a histogram's series with these labels. */
  buckets(name: string, labels: Labels): number[] {
    const out: number[] = [];
    for (const k of this.series.keys()) {
      const parsed = parseKey(k);
      if (parsed.name !== `${name}_bucket`) continue;
      if (!Object.entries(labels).every(([l, v]) => parsed.labels[l] === v)) continue;
      out.push(parsed.labels.le === '+Inf' ? Infinity : Number(parsed.labels.le));
    }
    return out.sort((a, b) => a - b);
  }

  names(): Set<string> {
    return new Set([...this.series.keys()].map((k) => parseKey(k).name));
  }
}

function key(name: string, labels: Labels): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${sorted.join(',')}}`;
}

export function parseKey(k: string): { name: string; labels: Labels } {
  const i = k.indexOf('{');
  const labels: Labels = {};
  for (const [, l, v] of k.slice(i + 1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)=("(?:[^"\\]|\\.)*")/g)) labels[l] = JSON.parse(v) as string;
  return { name: k.slice(0, i), labels };
}

export async function scrape(baseUrl: string): Promise<Exposition> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return new Exposition(await res.text());
}

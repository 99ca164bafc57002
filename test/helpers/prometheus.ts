// /metrics as the tests read it: the samples (parsed by the client's reader, the one the page and the
// benchmark use) looked up by name and labels, for comparing with ground truth.
import { parseExposition, sumOf, type Labels, type Sample } from '../../src/client/exposition.ts';

export type { Labels };

export class Exposition {
  readonly samples: Sample[];
  /** series key (name + sorted labels) → value */
  readonly series = new Map<string, number>();

  readonly text: string;
  constructor(text: string) {
    this.text = text;
    this.samples = parseExposition(text);
    for (const s of this.samples) this.series.set(key(s.name, s.labels), s.value);
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
    return sumOf(this.samples, name, labels);
  }

  /** The `le` bounds of a histogram's series with these labels. */
  buckets(name: string, labels: Labels): number[] {
    return this.samples
      .filter((s) => s.name === `${name}_bucket` && Object.entries(labels).every(([l, v]) => s.labels[l] === v))
      .map((s) => (s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)))
      .sort((a, b) => a - b);
  }

  names(): Set<string> {
    return new Set(this.samples.map((s) => s.name));
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

/** Streams running on a service now: its active_streams gauge, summed over the routes. */
export async function activeStreams(service: { url: string }): Promise<number> {
  return (await scrape(service.url)).sum('active_streams');
}

export async function scrape(baseUrl: string): Promise<Exposition> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return new Exposition(await res.text());
}

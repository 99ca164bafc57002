// A table as items return it, its two renderings (aligned plain text for the terminal, Markdown for
// docs/performance.md), and the cell formats every item uses.

export interface Table {
  title: string;
  /** No headers: a titled note (e.g. "skipped: …") without rows. */
  headers: string[];
  rows: string[][];
  /** Lines printed under the table. */
  notes?: string[];
}

export function num(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}
export const ratio = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}x`);
/** Seconds as whole milliseconds (or with `digits`). */
export const ms = (seconds: number | null | undefined, digits = 0) =>
  seconds === null || seconds === undefined || !Number.isFinite(seconds) ? '–' : (seconds * 1000).toFixed(digits);
/** The upper bound of the event-loop delay bucket holding the p99, in ms. */
export const loopBound = (s: number | null) => (s === null ? '–' : s === Infinity ? '>2500' : `≤${(s * 1000).toFixed(s < 0.01 ? 1 : 0)}`);

/** Plain text: first column left-aligned, the others right-aligned, ruled above and below. */
export function textTable(t: Table): string {
  const notes = (t.notes ?? []).map((n) => `  ${n}`);
  if (t.headers.length === 0) return [t.title, ...notes].join('\n');
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, w) => a + w + 2, -2));
  return [t.title, rule, line(t.headers), rule, ...t.rows.map(line), rule, ...notes].join('\n');
}

/** A cell of a Markdown table: pipes escaped, empty cells kept empty. */
const cell = (s: string) => s.replaceAll('|', '\\|');

/** Markdown: the title in bold, a GitHub table (numbers right-aligned), the notes line by line (hard breaks). */
export function markdownTable(t: Table): string {
  const out = [`**${t.title}**`, ''];
  if (t.headers.length > 0) {
    out.push(`| ${t.headers.map(cell).join(' | ')} |`);
    out.push(`|${t.headers.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
    for (const r of t.rows) out.push(`| ${t.headers.map((_, i) => cell(r[i] ?? '')).join(' | ')} |`);
    out.push('');
  }
  if (t.notes && t.notes.length > 0) out.push(t.notes.join('\\\n'), '');
  return out.join('\n').trimEnd();
}

/** A Table from its parts, in the order they print. */
export function table(title: string, headers: string[], rows: string[][], notes: string[] = []): Table {
  return { title, headers, rows, notes };
}

// The PromQL queries that docs/metrics.md offers operators to paste, read from the Markdown itself (every
// ```promql fenced block), so that a test can run each one against a real Prometheus.
import { readFileSync } from 'node:fs';
import { REPO_DIR } from './artifacts.ts';

export interface CookbookQuery {
  expr: string;
  /** The `#` comment lines just above it (what it is for), joined. */
  comment: string;
  /** The heading the block sits under, e.g. `PromQL cookbook`. */
  heading: string;
  /** 1-based line number in the Markdown file, for messages. */
  line: number;
}

/**
 * Every query of every ```promql (or ~~~promql) fenced block: one query per non-comment line.
 * Fences follow CommonMark: up to 3 spaces of indent, closed by the same character at least as
 * many times; headings are ATX (`### Title`) outside fences.
 */
export function promqlQueries(markdown: string): CookbookQuery[] {
  const out: CookbookQuery[] = [];
  let heading = '';
  let fence: { char: string; length: number; promql: boolean } | null = null;
  let comments: string[] = [];
  let afterQuery = false; // a comment after a query starts the next group
  const lines = markdown.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (fence) {
      const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line);
      if (close && close[1][0] === fence.char && close[1].length >= fence.length) {
        fence = null;
        return;
      }
      if (!fence.promql) return;
      const text = line.trim();
      if (text === '') {
        comments = [];
      } else if (text.startsWith('#')) {
        if (afterQuery) comments = [];
        comments.push(text.replace(/^#+\s*/, ''));
      } else {
        out.push({ expr: text, comment: comments.join(' '), heading, line: i + 1 });
      }
      afterQuery = text !== '' && !text.startsWith('#');
      return;
    }
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
    if (open) {
      fence = { char: open[1][0], length: open[1].length, promql: open[2].toLowerCase() === 'promql' };
      comments = [];
      afterQuery = false;
      return;
    }
    const h = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (h) heading = h[1];
  });
  return out;
}

export const metricsDocQueries = (): CookbookQuery[] => promqlQueries(readFileSync(`${REPO_DIR}docs/metrics.md`, 'utf8'));

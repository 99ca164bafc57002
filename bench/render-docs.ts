// Writes the tables of a full benchmark run into docs/performance.md, between its
// `<!-- bench:begin -->` and `<!-- bench:end -->` markers; the prose around them stays as written.
//   npm run bench:docs                       # from bench/results/latest.json
//   node bench/render-docs.ts FILE [--doc docs/performance.md] [--allow-smoke]
// A smoke run's figures are not figures: refused unless --allow-smoke (tests only).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchItem } from './item.ts';
import { ITEMS } from './items/index.ts';
import { renderMarkdown, type BenchResults } from './report.ts';

export const BEGIN = '<!-- bench:begin -->';
export const END = '<!-- bench:end -->';
const GENERATED = '<!-- Written by `npm run bench:docs` from a full run\'s results file (bench/render-docs.ts): edits here are lost. -->';

/** `doc` with the region between the markers replaced by the tables of `results`. */
export function renderDocsRegion(doc: string, results: BenchResults, items: readonly BenchItem[] = ITEMS): string {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < 0 || end < begin || doc.indexOf(BEGIN, begin + 1) >= 0 || doc.indexOf(END, end + 1) >= 0) {
    throw new Error(`the document needs one ${BEGIN} followed by one ${END}`);
  }
  const region = `${BEGIN}\n${GENERATED}\n\n${renderMarkdown(results, items)}\n${END}`;
  return doc.slice(0, begin) + region + doc.slice(end + END.length);
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      doc: { type: 'string', default: fileURLToPath(new URL('../docs/performance.md', import.meta.url)) },
      'allow-smoke': { type: 'boolean', default: false },
    },
  });
  const file = positionals[0] ?? fileURLToPath(new URL('results/latest.json', import.meta.url));
  const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  if (results.meta.smoke && !values['allow-smoke']) {
    process.stderr.write(`${file} is a smoke run: its numbers mean nothing, so they do not go into the docs (--allow-smoke to do it anyway)\n`);
    process.exit(1);
  }
  writeFileSync(values.doc, renderDocsRegion(readFileSync(values.doc, 'utf8'), results));
  process.stdout.write(`wrote the tables of ${file} into ${values.doc}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();

// docs/performance.md holds the tables of the latest full benchmark run between two markers, written
// by `npm run bench:docs` (bench/render-docs.ts) from the run's results file. Shown here with a smoke
// run's file (test/fixtures/bench-smoke.json, from `npm run bench:smoke`): its figures never go into
// the doc itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ITEMS } from '../../bench/items/index.ts';
import { BEGIN, END, renderDocsRegion } from '../../bench/render-docs.ts';
import type { BenchResults } from '../../bench/report.ts';

const DOC = fileURLToPath(new URL('../../docs/performance.md', import.meta.url));
const SMOKE = fileURLToPath(new URL('../fixtures/bench-smoke.json', import.meta.url));
const CLI = fileURLToPath(new URL('../../bench/render-docs.ts', import.meta.url));
const doc = readFileSync(DOC, 'utf8');
const smoke = () => JSON.parse(readFileSync(SMOKE, 'utf8')) as BenchResults;

const count = (text: string, s: string) => text.split(s).length - 1;
/** What lies between the markers (markers excluded). */
const region = (text: string) => text.slice(text.indexOf(BEGIN) + BEGIN.length, text.indexOf(END));
/** Cells of a Markdown table row (escaped pipes are inside a cell). */
const cells = (row: string) => row.trim().slice(1, -1).split(/(?<!\\)\|/);

test('docs/performance.md has one bench:begin marker followed by one bench:end marker', () => {
  assert.equal(count(doc, BEGIN), 1, `one ${BEGIN}`);
  assert.equal(count(doc, END), 1, `one ${END}`);
  assert.ok(doc.indexOf(BEGIN) < doc.indexOf(END), 'begin before end');
});

test('a run renders into the marked region only, the same every time, and again over its own output', () => {
  const once = renderDocsRegion(doc, smoke());
  assert.equal(renderDocsRegion(doc, smoke()), once, 'the same results render to the same bytes');
  assert.equal(renderDocsRegion(once, smoke()), once, 'rendering over the rendered doc changes nothing');
  assert.equal(once.slice(0, once.indexOf(BEGIN)), doc.slice(0, doc.indexOf(BEGIN)), 'the prose before the region stays');
  assert.equal(once.slice(once.indexOf(END)), doc.slice(doc.indexOf(END)), 'the prose after the region stays');
  assert.notEqual(region(once), region(doc));
});

test("every item of the smoke run is in the region with each of its tables, well-formed, and the targets", () => {
  const results = smoke();
  const rendered = region(renderDocsRegion(doc, results));
  assert.match(rendered, /SMOKE/, 'the run is described, smoke included');
  const present = ITEMS.filter((item) => results[item.id] !== undefined);
  assert.ok(present.length >= ITEMS.length - 1, `the fixture holds (nearly) every item: ${present.map((i) => i.id).join(', ')}`);
  for (const item of present) {
    for (const table of item.render(results[item.id], results)) assert.ok(rendered.includes(`**${table.title}**`), `${item.id}: ${table.title}`);
  }
  assert.ok(rendered.includes('**Targets (reported, not asserted)**'));
  assert.ok(rendered.includes('| pool zero-cost jobs | own pool ≤ Piscina'), 'the pool item\'s target');
  const lines = rendered.split('\n');
  let tables = 0;
  for (let i = 0; i < lines.length; i++) {
    if (!/^\|---/.test(lines[i])) continue;
    tables++;
    const width = cells(lines[i - 1]).length;
    assert.equal(cells(lines[i]).length, width, `rule under: ${lines[i - 1]}`);
    for (let j = i + 1; lines[j]?.startsWith('|'); j++) assert.equal(cells(lines[j]).length, width, `row: ${lines[j]}`);
  }
  assert.ok(tables >= present.length, `${tables} tables`);
});

test('npm run bench:docs refuses a smoke run, and writes a full one into the region', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-docs-'));
  try {
    const target = join(dir, 'performance.md');
    writeFileSync(target, doc);
    const refused = spawnSync(process.execPath, [CLI, SMOKE, '--doc', target], { encoding: 'utf8' });
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /smoke run/);
    assert.equal(readFileSync(target, 'utf8'), doc, 'untouched');

    const full = smoke();
    full.meta.smoke = false;
    const file = join(dir, 'full.json');
    writeFileSync(file, JSON.stringify(full));
    const wrote = spawnSync(process.execPath, [CLI, file, '--doc', target], { encoding: 'utf8' });
    assert.equal(wrote.status, 0, wrote.stderr);
    assert.equal(readFileSync(target, 'utf8'), renderDocsRegion(doc, full));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a document without the markers is refused, not appended to', () => {
  assert.throws(() => renderDocsRegion('# Performance\n', smoke()), /bench:begin/);
  assert.throws(() => renderDocsRegion(`${END}\n${BEGIN}\n`, smoke()), /bench:begin/);
});

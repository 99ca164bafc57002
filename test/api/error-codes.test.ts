// The protocol document's error table (docs/protocol.md) is the documentation of what the server
// sends: keep them equal.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERROR_CODES } from '../../src/api/protocol.ts';

const root = new URL('../../', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test('the error table of docs/protocol.md lists exactly the codes the code can send', () => {
  const doc = readFileSync(join(root, 'docs/protocol.md'), 'utf8');
  const table = doc.slice(doc.indexOf('| code | when | then |'));
  const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
  const documented = rows.map((row) => /^\| `([a-z_]+)` \|/.exec(row)?.[1]);
  assert.ok(documented.every(Boolean), 'every row starts with a code');
  assert.deepEqual(new Set(documented), new Set(ERROR_CODES));
  assert.equal(documented.length, ERROR_CODES.length, 'no code twice');
});

test('every code in ERROR_CODES is really sent somewhere in src/', () => {
  const sources = sourceFiles(join(root, 'src'))
    .filter((f) => !f.endsWith('protocol.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  for (const code of ERROR_CODES) assert.ok(sources.includes(`'${code}'`), `${code} is never used outside protocol.ts`);
});

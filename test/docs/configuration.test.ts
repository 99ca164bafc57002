// docs/configuration.md is generated from the config schema: it must be what `npm run docs:config`
// writes now, and it must name every key the service accepts, with the defaults the service uses.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseConfig } from '../../src/config.ts';
import { CONFIGURATION_DOC, configurationDoc } from '../../src/config-doc.ts';

const committed = readFileSync(CONFIGURATION_DOC, 'utf8');

test('docs/configuration.md is fresh: what npm run docs:config makes from src/config.ts', () => {
  assert.ok(committed === configurationDoc(), 'docs/configuration.md is stale: run `npm run docs:config` and commit it');
});

/** `key` → its default cell, from every table of the doc. */
function documented(markdown: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const [, key, shown] of markdown.matchAll(/^\| `([a-z_.]+)` \| (.*?) \| /gm)) keys.set(key, [...(keys.get(key) ?? []), shown]);
  return keys;
}

/** Every leaf key of a parsed config (`limits.max_streams`), with its value. */
function leaves(value: unknown, prefix = ''): [string, unknown][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix, value]];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

test('every key of every backend is documented with the default the service uses (machine-dependent ones named in words)', () => {
  const doc = documented(committed);
  for (const backend of ['simulated', 'whisper', 'keywords']) {
    for (const [key, value] of leaves(parseConfig({ model: { backend } }))) {
      const shown = doc.get(key);
      assert.ok(shown, `${key} is in docs/configuration.md`);
      const cell = `\`${JSON.stringify(value)}\``;
      assert.ok(shown.includes(cell) || shown.some((s) => !s.startsWith('`')), `${key}: the doc shows ${shown.join(' / ')}, the service uses ${cell}`);
    }
  }
  // optional keys without a default are documented too
  for (const key of ['limits.max_connections', 'model.path']) assert.ok(doc.has(key), key);
});

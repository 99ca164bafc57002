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

/**
 * `key` → its default cell, as a service with `backend` reads the doc: every table but the other
 * backends' (each backend has its own table under "## The model").
 */
function documented(markdown: string, backend: string): Map<string, string> {
  const keys = new Map<string, string>();
  let table = '';
  for (const line of markdown.split('\n')) {
    const heading = /^###? (.*)$/.exec(line);
    if (heading) table = heading[1];
    const row = /^\| `([a-z_.]+)` \| (.*?) \| /.exec(line);
    const other = /^`(\w+)`/.exec(table)?.[1];
    if (row && (other === undefined || other === backend)) keys.set(row[1], row[2]);
  }
  return keys;
}

/** Keys whose default depends on the machine or on another key: the doc names it in words. */
const IN_WORDS = new Set(['simulated model.workers', 'keywords model.workers', 'keywords model.path', 'any vad.workers', 'any limits.max_connections']);

/** Every leaf key of a parsed config (`limits.max_streams`), with its value. */
function leaves(value: unknown, prefix = ''): [string, unknown][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix, value]];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

test('every key of every backend is documented with the default the service uses (machine-dependent ones named in words)', () => {
  for (const backend of ['simulated', 'whisper', 'keywords']) {
    const doc = documented(committed, backend);
    const config = leaves(parseConfig({ model: { backend } }));
    // optional keys without a default are documented too
    const keys = new Map<string, unknown>([...config, ...(backend === 'keywords' ? [['model.path', undefined] as const] : []), ['limits.max_connections', undefined]]);
    for (const [key, value] of keys) {
      const shown = doc.get(key);
      assert.ok(shown !== undefined, `${key} is in docs/configuration.md for the ${backend} backend`);
      if (key === 'model.backend' && backend !== 'simulated') assert.equal(shown, 'required', 'a backend other than the default is named');
      else if (IN_WORDS.has(`${backend} ${key}`) || IN_WORDS.has(`any ${key}`)) assert.doesNotMatch(shown, /^`/, `${key} (${backend}): the default depends on the machine, named in words`);
      else assert.equal(shown, `\`${JSON.stringify(value)}\``, `${key} (${backend}): the doc's default against the service's`);
    }
  }
});

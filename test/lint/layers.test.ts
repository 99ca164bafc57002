// The layering rule can fail: snippets placed (virtually) in src/ go through the project's own ESLint
// config, and an import against the direction is reported while one along it is not. Type-aware
// rules are off here (the snippets are in no TypeScript project); the layering rule needs no types.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const root = new URL('../../', import.meta.url).pathname;
const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });

/** The layering rule's messages for `code` as the file `file` (relative to the repository). */
async function layerMessages(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${file}` });
  const fatal = result.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], 'the snippet parses');
  return result.messages.filter((m) => m.ruleId === 'layers/direction').map((m) => m.message);
}

test('telemetry importing from the api is reported', async () => {
  const messages = await layerMessages('src/telemetry/virtual.ts', "import { ServerEvent } from '../api/protocol.ts';\nexport const e: ServerEvent | null = null;\n");
  assert.equal(messages.length, 1, JSON.stringify(messages));
  assert.match(messages[0], /^src\/telemetry\/virtual\.ts may not import src\/api\/protocol\.ts \(api\): imports in src\/ run service → api → pipeline → /);
});

test('an import along the direction is not reported', async () => {
  assert.deepEqual(await layerMessages('src/api/virtual.ts', "export { METRIC } from '../telemetry/names.ts';\n"), []);
  assert.deepEqual(await layerMessages('src/model/whisper/virtual.ts', "export { MODEL_SAMPLE_RATE } from '../../audio/format.ts';\n"), []);
});

test('a deeper file is resolved to the file it names', async () => {
  // From src/model/whisper/, '../pipeline/' would be src/model/pipeline/; '../../pipeline/' is the pipeline.
  const messages = await layerMessages('src/model/whisper/virtual.ts', "export { chunkPolicy } from '../../pipeline/chunking.ts';\n");
  assert.equal(messages.length, 1, JSON.stringify(messages));
});

test('the stages of one row do not import each other', async () => {
  assert.equal((await layerMessages('src/vad/virtual.ts', "export type { Model } from '../model/index.ts';\n")).length, 1);
});

test('the client takes types only from the protocol, and nothing else of the service', async () => {
  assert.deepEqual(await layerMessages('src/client/virtual.ts', "export type { ServerEvent } from '../api/protocol.ts';\n"), []);
  assert.equal((await layerMessages('src/client/virtual.ts', "export { CloseCode } from '../api/protocol.ts';\n")).length, 1);
  assert.equal((await layerMessages('src/client/virtual.ts', "export { METRIC } from '../telemetry/names.ts';\n")).length, 1);
});

test('a type-only exception stays type-only', async () => {
  assert.deepEqual(await layerMessages('src/model/virtual.ts', "import type { Config } from '../config.ts';\nexport type C = Config;\n"), []);
  assert.equal((await layerMessages('src/model/virtual.ts', "export { loadConfig } from '../config.ts';\n")).length, 1);
});

test('a file of src/ in no layer is reported', async () => {
  const messages = await layerMessages('src/virtual.ts', 'export const x = 1;\n');
  assert.deepEqual(messages, ['src/virtual.ts is in no layer: give it a place in lint/layers.js']);
});

test('the pipeline has options of its own: it may not import the config, not even its types', async () => {
  assert.equal((await layerMessages('src/pipeline/virtual.ts', "import type { Config } from '../config.ts';\nexport type C = Config;\n")).length, 1);
});

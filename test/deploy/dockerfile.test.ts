// What building the image cannot show: test/deploy/image.test.ts builds the Dockerfile on a local
// stand-in for its base (node:24-trixie-slim cannot be pulled there), so this checks the base that
// production builds on. The image's config, contents, size and behaviour are the image test's; that
// every npm ci skips onnxruntime-node's download whatever npm runs it, test/runtime/install.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DockerfileParser } from 'dockerfile-ast';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
const dockerfile = DockerfileParser.parse(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const instructions = dockerfile.getInstructions();

test("the default base is the slim Debian image of the project's Node major, the Debian the stand-in is made of", () => {
  const args = new Map(dockerfile.getInitialARGs().flatMap((a) => a.getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const)));
  const nodeMajor = /(\d+)/.exec(pkg.devDependencies.node)![1];
  const base = args.get('NODE_IMAGE') ?? '';
  const m = new RegExp(`^node:${nodeMajor}-(\\w+)-slim$`).exec(base);
  assert.ok(m, `NODE_IMAGE ${base}: node:${nodeMajor}-<debian>-slim`);
  const suite = /^SUITE=(\w+)/m.exec(readFileSync(join(root, 'test/deploy/build-image.sh'), 'utf8'))?.[1];
  assert.equal(suite, m[1], "the image test's stand-in is made of the same Debian");
  const froms = instructions.filter((i) => i.getKeyword() === 'FROM').map((i) => i.getArguments()[0].getValue());
  assert.deepEqual(froms, ['${NODE_IMAGE}', '${NODE_IMAGE}'], 'both stages on that base');
});

test('.dockerignore keeps local state out of the build context', () => {
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
  for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry), entry);
});

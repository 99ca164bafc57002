// A fresh `npm install` must not run onnxruntime-node's install script: it downloads GPU libraries
// from a host our machines and CI cannot reach (the CPU build ships in the package). npm 11.19+
// obeys package.json's allowScripts; every other install path sets the variable the script reads.
// (The old `.npmrc` key `onnxruntime-node-install=skip` works too, but npm warns it is going away.)
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

test("onnxruntime-node's install script is denied, the scripts the install needs are allowed", () => {
  const pkg = JSON.parse(read('package.json')) as { allowScripts: Record<string, boolean> };
  assert.equal(pkg.allowScripts['onnxruntime-node'], false);
  assert.equal(pkg.allowScripts.node, true, 'the node package fetches the Node 24 binary in its preinstall');
  assert.ok(!existsSync(new URL('.npmrc', root)) || !read('.npmrc').includes('onnxruntime-node-install'), 'no deprecated npm key');
});

test('CI and every npm ci of the Dockerfile skip the download whatever npm they run', () => {
  assert.match(read('.ci/run'), /^export ONNXRUNTIME_NODE_INSTALL=skip$/m);
  const installs = read('Dockerfile').split('\n').filter((l) => /\bnpm ci\b/.test(l) && l.startsWith('RUN'));
  assert.equal(installs.length, 2);
  for (const line of installs) assert.match(line, /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
});

// The project runs on Node 24 LTS wherever npm runs its scripts: the `node` devDependency puts a
// Node 24 binary at node_modules/.bin/node, which npm puts first on a script's PATH, so machines
// whose own Node is older still run the service, the tests and the benchmark on 24.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, { version: string }> };

const major = (version: string) => Number(/(\d+)/.exec(version)?.[1]);

test('the test runner runs on the Node major the project pins (npm test uses node_modules/.bin/node)', () => {
  assert.equal(major(process.version), 24, `running on ${process.version}`);
  assert.equal(major(pkg.devDependencies.node), 24, 'the node devDependency is Node 24');
  assert.equal(major(lock.packages['node_modules/node'].version), 24, 'the lock file pins a Node 24');
  assert.equal(pkg.engines.node, '>=24', 'engines say what the code needs');
});

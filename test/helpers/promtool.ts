// promtool (Debian package prometheus) for the tests that check an exposition or a config with it:
// without it a test is skipped, except under CI, where .ci/run installs it and the test must run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const IN_CI = ['true', '1'].includes((process.env.CI ?? '').toLowerCase());

let found: Promise<boolean> | undefined;
const hasPromtool = () =>
  (found ??= execFileP('promtool', ['--version']).then(
    () => true,
    () => false,
  ));

/** True when promtool can run; otherwise skips `t` (and fails it under CI). */
export async function requirePromtool(t: TestContext): Promise<boolean> {
  if (await hasPromtool()) return true;
  if (IN_CI) assert.fail('promtool is not on PATH but CI=true: CI must run these checks (.ci/run installs the Debian package prometheus)');
  t.skip('promtool not installed');
  return false;
}

/** What `promtool check metrics` says of a text exposition (empty: nothing to report). */
export async function promtoolCheckMetrics(exposition: string): Promise<string> {
  const child = execFileP('promtool', ['check', 'metrics']);
  child.child.stdin!.end(exposition);
  const { stdout, stderr } = await child.catch((e: { stdout: string; stderr: string }) => e);
  return `${stdout}${stderr}`.trim();
}

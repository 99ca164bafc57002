// A model that loads but fails its warm-up, run the way an operator runs the service (`npm start`
// in its own process group): the server had started listening, so it drains, prints one line
// saying what failed and what to do, exits 1 and leaves no process behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { groupGone, writeConfig } from './helpers/launch.ts';
import { writeFakeWhisper } from './helpers/whisper-models.ts';

const root = new URL('../', import.meta.url).pathname;
const cleanup: string[] = [];
after(() => cleanup.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** No stack frame and no native abort in what an operator reads. */
const STACK = /\n\s+at |Napi::Error|terminate called|Unhandled 'error' event/;

test('a model whose warm-up fails: one line on stderr, no stack trace, exit 1, no process left', { timeout: 60_000 }, async () => {
  // The encoder takes 1500 mel frames instead of the export's 3000: loading does not look at that
  // dimension, so the model loads and the server listens; onnxruntime refuses the first inference.
  const model = await writeFakeWhisper({ target: [1, 2], anyAudio: true, melFrames: 1500 });
  cleanup.push(model.dir);
  const child = spawn('npm', ['start', '--', '--config', writeConfig({ model: { backend: 'whisper', path: model.dir, workers: 2 } })], {
    cwd: root,
    detached: true, // its own process group, as a terminal or a supervisor gives it
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  // A server that stays up instead of exiting is killed (exit status null fails the test).
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 45_000);
  try {
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1, `exit status\n${stderr}\n${stdout}`);
    const lines = stderr.split('\n').filter((l) => l.startsWith('streamer:'));
    assert.equal(lines.length, 1, `one line for the operator:\n${stderr}`);
    assert.match(lines[0], /^streamer: model warm-up failed: whisper model \S+fake-encoder\.onnx cannot run: .*Got invalid dimensions for input: mel.*npm run models:fetch/);
    assert.doesNotMatch(stderr, STACK, 'no stack trace');
    const logged = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.ok(logged.includes('listening'), 'the failure came after start-up, from the warm-up');
    assert.ok(logged.includes('model warm-up failed') && logged.includes('stopped'), `the detail is in the log and the service stopped: ${logged.join(', ')}`);
    await groupGone(child.pid!);
  } finally {
    clearTimeout(timer);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

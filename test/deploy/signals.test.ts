// Signals from any launcher: `npm start` and the production command (`node dist/main.js`), each
// signalled the two ways operators do it: to the launcher's own PID (a container runtime, a
// supervisor, `kill PID`) and to its whole process group (Ctrl-C, `timeout`, systemd). Every time a
// live stream gets all its results and `stream_end`, the launcher exits 0 and no process of its
// group is left.
import assert from 'node:assert/strict';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { execFileSync } from 'node:child_process';
import { before, test } from 'node:test';
import { streamAudio } from '../../src/client/stream-client.ts';
import { groupGone, launch, type Launched } from '../helpers/launch.ts';
import { FAST_MODEL, speechFixture } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const root = new URL('../../', import.meta.url).pathname;
const fixture = speechFixture();
const config = { model: FAST_MODEL };

const LAUNCHERS: Record<string, (configFile: string) => [string, string[]]> = {
  'npm start': (file) => ['npm', ['start', '--', '--config', file]],
  'node dist/main.js': (file) => [process.execPath, ['dist/main.js', '--config', file]],
};

before(() => {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
});

/** Streams `seconds` of the fixture in real time; `onLive` runs once the server has reported speech in it. */
/** A stream that was running when draining began: told once (default 30 s drain), then finished normally. */
function assertDrainedStream(events: ServerEvent[]): void {
  assert.deepEqual(
    events.filter((e) => e.type !== 'going_away' && e.type !== 'committed').map((e) => e.type),
    ['started', 'active', 'inactive', 'segment', 'stream_end'],
  );
  assert.deepEqual(
    events.filter((e) => e.type === 'going_away'),
    [{ type: 'going_away', deadline_ms: 30_000 }],
  );
  assert.ok(events.findIndex((e) => e.type === 'going_away') < events.length - 1, 'before stream_end');
}

function liveStream(server: Launched, seconds: number, onLive: () => void) {
  let fired = false;
  return streamAudio({
    addr: `ws://127.0.0.1:${server.port}/api/v1/segmented`,
    format: fixture.format,
    pcm: fixture.pcm.subarray(0, seconds * 32000),
    realTime: true,
    chunkBytes: 3200,
    onEvent: (e) => {
      if (e.type === 'active' && !fired) {
        fired = true;
        onLive();
      }
    },
  });
}

for (const [name, command] of Object.entries(LAUNCHERS)) {
  for (const [how, signal] of [
    ['its PID', 'SIGTERM'],
    ['its process group', 'SIGTERM'],
    ['its process group', 'SIGINT'],
  ] as const) {
    test(`${name}: ${signal} to ${how} drains a live stream, exits 0 and leaves no process`, async () => {
      const server = await launch(command, config);
      try {
        const target = how === 'its PID' ? server.child.pid! : -server.child.pid!;
        const result = await liveStream(server, 3, () => process.kill(target, signal));
        assertDrainedStream(result.events);
        assert.equal(result.closeCode, 1000);
        assert.equal(await server.exitCode, 0, server.logs.join('\n'));
        const draining = server.entries().find((e) => e.msg === 'draining');
        assert.equal(draining?.active_streams, 1, 'the stream was live when the drain began');
        assert.equal(server.entries().filter((e) => e.msg === 'shutting down').length, 1, 'one drain');
        assert.ok(!server.entries().some((e) => e.msg === 'second signal: exiting now'), 'a relayed signal is not a second one');
        await groupGone(server.child.pid!);
      } finally {
        server.kill();
      }
    });
  }
}

/** A signal within this long of the first is the same operator action (SAME_ACTION_MS in src/main.ts). */
const SAME_ACTION_MS = 1000;

test('a deliberate second signal, a second after the first, exits at once with 1', async () => {
  const server = await launch(LAUNCHERS['node dist/main.js'], config);
  try {
    // The whole 8 s fixture: the stream is still running when the second signal comes.
    let firstSent!: () => void;
    const sent = new Promise<void>((resolve) => (firstSent = resolve));
    const result = liveStream(server, 8, () => {
      process.kill(server.child.pid!, 'SIGTERM');
      firstSent();
    });
    await sent;
    // Over SAME_ACTION_MS after the server took the first one (its log line's time, not when it was
    // sent: a loaded machine may take the first one late)
    await waitFor('the server to take the first signal', () => server.entries().some((e) => e.msg === 'shutting down'));
    const took = server.entries().find((e) => e.msg === 'shutting down')!.time as number;
    await new Promise((r) => setTimeout(r, Math.max(0, took + SAME_ACTION_MS + 250 - Date.now())));
    process.kill(server.child.pid!, 'SIGTERM');
    assert.equal(await server.exitCode, 1);
    assert.ok(server.entries().some((e) => e.msg === 'second signal: exiting now'));
    const { events } = await result;
    assert.ok(!events.some((e) => e.type === 'stream_end'), 'the stream was cut, as asked');
    await groupGone(server.child.pid!);
  } finally {
    server.kill();
  }
});

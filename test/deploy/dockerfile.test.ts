// The container image, proven without docker: the Dockerfile is parsed, its runtime stage is
// reproduced in a temporary directory (the files it copies, its own `npm ci` command, its ENV and
// WORKDIR), and the exact command of its ENTRYPOINT serves real audio on both routes. A run-time import
// of a dev dependency fails here, because the directory holds the production dependencies only.
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, before, test } from 'node:test';
import { DockerfileParser, type Copy, type Env, type Instruction } from 'dockerfile-ast';
import { streamAudio } from '../../src/client/stream-client.ts';
import { launch, writeConfig } from '../helpers/launch.ts';
import { FAST_MODEL, speechFixture } from '../helpers/service.ts';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const dockerfile = DockerfileParser.parse(readFileSync(join(root, 'Dockerfile'), 'utf8'));

interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}

/** The stages in order, each with its instructions and its base image (build ARGs resolved). */
function stages(): Stage[] {
  const args = new Map(dockerfile.getInitialARGs().flatMap((a) => a.getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const)));
  const resolve = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => args.get((a ?? b)!) ?? '');
  const result: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [image, , name] = instruction.getArguments().map((a) => a.getValue());
      result.push({ name: name ?? null, image: resolve(image), instructions: [] });
    } else {
      result.at(-1)?.instructions.push(instruction);
    }
  }
  return result;
}

const all = stages();
const runtime = all.at(-1)!;
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
/** A RUN's command without its BuildKit flags (`--mount=…`). */
const runCommand = (run: Instruction) =>
  run
    .getArgumentsContent()!
    .replace(/^(--\S+\s+)+/, '')
    .trim();
/** The command the container runs: ENTRYPOINT, then CMD (both exec form, JSON arrays). */
const execForm = (keyword: string) => {
  const last = of(runtime, keyword).at(-1);
  return last ? (JSON.parse(last.getArgumentsContent()!) as string[]) : [];
};
const cmd = [...execForm('ENTRYPOINT'), ...execForm('CMD')];
const env = Object.fromEntries(of(runtime, 'ENV').flatMap((e) => (e as Env).getProperties().map((p) => [p.getName(), p.getValue() ?? ''])));

test('the Dockerfile: a slim Debian image of the Node major the project runs on, non-root, exec-form entrypoint', () => {
  const nodeMajor = /(\d+)/.exec(pkg.devDependencies.node)![1];
  for (const stage of all) assert.match(stage.image, new RegExp(`^node:${nodeMajor}-(bookworm|trixie)-slim$`), `${stage.name ?? 'runtime'} stage image`);
  assert.deepEqual(all.map((s) => s.name), ['build', null], 'a build stage, then the runtime stage');
  const user = of(runtime, 'USER').at(-1)?.getArgumentsContent();
  assert.ok(user && !['root', '0'].includes(user), `runs as a non-root user (${user})`);
  assert.equal(of(runtime, 'EXPOSE').at(-1)?.getArgumentsContent(), env.PORT, 'EXPOSE is the port it listens on');
  assert.equal(env.HOST, '0.0.0.0', 'listens on every interface in the container');
  // Exec form: node is PID 1 and receives the runtime's SIGTERM itself (no shell, no npm in between);
  // as the ENTRYPOINT, arguments given to the container (a pod's `args`) are appended to it.
  assert.deepEqual(execForm('ENTRYPOINT'), ['node', 'dist/main.js']);
  assert.ok(of(runtime, 'RUN').some((r) => /npm ci\b.*--omit=dev/.test(runCommand(r))), 'the runtime stage installs production dependencies only');
  for (const stage of all) {
    for (const run of of(stage, 'RUN').map(runCommand).filter((r) => /npm ci\b/.test(r))) {
      assert.match(run, /ONNXRUNTIME_NODE_INSTALL=skip/, 'no GPU download at install time, whatever npm the image has');
    }
  }
  assert.ok(!of(runtime, 'COPY').some((c) => /\bsrc\b/.test(c.getArgumentsContent()!)), 'no sources in the image');
});

test('.dockerignore keeps local state out of the build context', () => {
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
  for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry), entry);
});

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'streamer-image-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

/**
 * Runs a stage into `dir`: WORKDIR is `dir`, COPY takes from the repository (or from an earlier
 * stage's directory with --from), RUN runs its command there. `install` replaces a RUN (the build
 * stage reuses this checkout's installed tree instead of downloading it again).
 */
function reproduce(stage: Stage, dir: string, stageDirs: Map<string, string>, install?: (run: string) => boolean): void {
  let workdir = '/';
  for (const instruction of stage.instructions) {
    const keyword = instruction.getKeyword();
    if (keyword === 'WORKDIR') workdir = instruction.getArgumentsContent()!;
    if (keyword === 'COPY') {
      const copy = instruction as Copy;
      const from = copy.getFromFlag()?.getValue();
      const [dest, ...sources] = copy.getArguments().map((a) => a.getValue()).reverse();
      for (const source of sources) {
        const origin = from ? join(stageDirs.get(from)!, posix.relative(workdir, source)) : join(root, source);
        const target = join(dir, dest.endsWith('/') ? posix.basename(source) : dest);
        cpSync(origin, target, { recursive: true });
      }
    }
    if (keyword === 'RUN') {
      const command = runCommand(instruction);
      if (install?.(command)) continue;
      execSync(command, { cwd: dir, stdio: 'pipe', env: { ...process.env, npm_config_prefer_offline: 'true' } });
    }
  }
}

test("the runtime stage, reproduced, serves both routes with the image's exact command", { timeout: 240_000 }, async () => {
  const stageDirs = new Map<string, string>();
  for (const stage of all.slice(0, -1)) {
    const dir = join(work, stage.name!);
    mkdirSync(dir, { recursive: true });
    // The build stage's `npm ci` would install exactly this checkout's tree (same lock file).
    reproduce(stage, dir, stageDirs, (run) => {
      if (!/\bnpm ci\b/.test(run)) return false;
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
      return true;
    });
    stageDirs.set(stage.name!, dir);
  }
  const app = join(work, 'app');
  mkdirSync(app, { recursive: true });
  reproduce(runtime, app, stageDirs);

  for (const dev of Object.keys(pkg.devDependencies)) assert.ok(!existsSync(join(app, 'node_modules', dev)), `dev dependency ${dev} is not installed`);
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(app, 'node_modules', dep)), `dependency ${dep} is installed`);

  const [program, ...args] = cmd;
  assert.equal(program, 'node');
  const server = await launch(() => [process.execPath, args], {}, {
    cwd: app,
    env: { ...env, HOST: '127.0.0.1', PORT: '0', STREAMER_CONFIG: writeConfig({ model: FAST_MODEL }) },
  });
  try {
    const fixture = speechFixture();
    const ws = (route: string) => `ws://127.0.0.1:${server.port}/api/v1/${route}`;
    const segmented = await streamAudio({ addr: ws('segmented'), format: fixture.format, pcm: fixture.pcm });
    const finals = segmented.events.filter((e) => e.type === 'segment' && e.is_final === true);
    assert.equal(finals.length, fixture.regions.length, 'one final segment per utterance');
    assert.equal(segmented.events.at(-1)?.type, 'stream_end');
    const simple = await streamAudio({ addr: ws('simple'), format: fixture.format, pcm: fixture.pcm });
    const counts = simple.events.flatMap((e) => (e.type === 'segment' ? [e.count as number] : []));
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      fixture.pcm.byteLength / 2,
      'simple segments tile the whole audio',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    assert.match(metrics, /^streams_total\{route="simple",outcome="completed"\} 1$/m);
    process.kill(server.child.pid!, 'SIGTERM');
    assert.equal(await server.exitCode, 0);
  } finally {
    server.kill();
  }
});

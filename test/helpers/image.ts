// The production image for tests: built by test/deploy/build-image.sh (podman, on a stand-in base)
// and run the way a container runtime runs it, without one (podman cannot start containers on
// these machines): the image's root from `podman image mount`, bind-mounted read-only, with /proc,
// a /dev of the usual device nodes and a read-only config directory; its Entrypoint (or Cmd, or
// the arguments that replace Cmd) run by chroot as the image's user, in its WorkingDir, with
// exactly its Env and what the caller adds, as `docker run -e`. Everything comes from
// `podman image inspect`; nothing of the Dockerfile is restated here.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launch, type Launched } from './launch.ts';

const execFileP = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

export const IN_CI = ['true', '1'].includes((process.env.CI ?? '').toLowerCase());

const onPath = (tool: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Why the image cannot be built and run here; null when it can. */
export function whyNoImage(): string | null {
  if (process.getuid?.() !== 0) return 'building and mounting the image needs root (podman image mount, chroot, mount)';
  const missing = ['podman', 'buildah', 'debootstrap', 'chroot', 'mount'].filter((t) => !onPath(t));
  if (missing.length > 0) return `${missing.join(', ')} not installed (Debian: apt-get install podman buildah debootstrap)`;
  try {
    execFileSync('podman', ['info', '--format', '{{.Store.GraphDriverName}}'], { stdio: 'pipe' });
  } catch (e) {
    return `podman cannot run here: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`;
  }
  return null;
}

export interface Built {
  /** The build script's report: the stand-in's tag, the build times. */
  lines: string[];
  base: string;
  seconds: number;
}

/** Builds the real Dockerfile as `tag` (test/deploy/build-image.sh). */
export async function buildImage(tag: string, timeoutMs: number): Promise<Built> {
  const started = performance.now();
  const { stdout } = await execFileP('bash', [join(root, 'test/deploy/build-image.sh'), tag], { cwd: root, timeout: timeoutMs, killSignal: 'SIGKILL' }).catch(
    (e: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`the image build failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: e });
    },
  );
  const lines = stdout.trim().split('\n');
  const base = lines.find((l) => l.startsWith('base '))!.slice('base '.length);
  return { lines, base, seconds: (performance.now() - started) / 1000 };
}

export interface ImageInfo {
  Id: string;
  Size: number;
  Architecture: string;
  /** podman shows a docker-format image's HEALTHCHECK here (docker: Config.Healthcheck). */
  Healthcheck?: { Test: string[] };
  Config: {
    User?: string;
    Env?: string[];
    WorkingDir?: string;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    ExposedPorts?: Record<string, object>;
    Healthcheck?: { Test: string[] };
  };
}

export function inspectImage(ref: string): ImageInfo {
  return (JSON.parse(execFileSync('podman', ['image', 'inspect', ref], { encoding: 'utf8' })) as ImageInfo[])[0];
}

export interface Layer {
  size: number;
  createdBy: string;
}

/** The layers (history entries, newest first) that `image` adds on top of `base`. */
export function layersAbove(image: string, base: string): Layer[] {
  const history = (ref: string) => JSON.parse(execFileSync('podman', ['history', '--format', 'json', ref], { encoding: 'utf8' })) as { size: number; CreatedBy: string }[];
  const own = history(image);
  return own.slice(0, own.length - history(base).length).map((h) => ({ size: h.size, createdBy: h.CreatedBy }));
}

/** `Env` as an object. */
export function envOf(info: ImageInfo): Record<string, string> {
  return Object.fromEntries((info.Config.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** A port nobody listens on now (the kernel's pick), for a server that must be told its port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const mount = (...args: string[]) => execFileSync('mount', args, { stdio: 'pipe' });

/** The image's root, mounted read-only at `dir` with /proc, /dev and `configDir` at /mnt (read-only). */
export class ImageRoot {
  readonly dir: string;
  readonly #ref: string;

  constructor(ref: string, configDir: string) {
    this.#ref = ref;
    const merged = execFileSync('podman', ['image', 'mount', ref], { encoding: 'utf8' }).trim();
    this.dir = mkdtempSync(join(tmpdir(), 'streamer-image-root-'));
    try {
      mount('--bind', merged, this.dir);
      // Private: the mounts below stay out of podman's own mount of the image.
      mount('--make-private', this.dir);
      mount('-o', 'remount,bind,ro', this.dir);
      mount('-t', 'proc', 'proc', join(this.dir, 'proc'));
      mount('-t', 'tmpfs', '-o', 'mode=0755,size=64k', 'tmpfs', join(this.dir, 'dev'));
      for (const [name, minor] of [['null', 3], ['zero', 5], ['full', 7], ['random', 8], ['urandom', 9]] as const) {
        execFileSync('mknod', ['-m', '0666', join(this.dir, 'dev', name), 'c', '1', String(minor)]);
      }
      // A pod mounts its ConfigMap at a new directory; a read-only root has none to mount on: /mnt.
      mount('--bind', configDir, join(this.dir, 'mnt'));
      mount('-o', 'remount,bind,ro', join(this.dir, 'mnt'));
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** uid:gid of the image's `User` (a name is looked up in the image's own /etc/passwd). */
  user(info: ImageInfo): { uid: number; gid: number } {
    const [user, group] = (info.Config.User || 'root').split(':');
    const entry = readFileSync(join(this.dir, 'etc/passwd'), 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .find((f) => f[0] === user || f[2] === user);
    if (!entry) throw new Error(`the image's user ${user} is not in its /etc/passwd`);
    const gid = group === undefined ? Number(entry[3]) : Number(group);
    return { uid: Number(entry[2]), gid };
  }

  /** The command line a runtime runs: Entrypoint, then `args` if given, else Cmd. */
  static commandOf(info: ImageInfo, args: string[]): string[] {
    return [...(info.Config.Entrypoint ?? []), ...(args.length > 0 ? args : (info.Config.Cmd ?? []))];
  }

  /** `command` in the image, as its user in its WorkingDir, with its Env plus `env` (chroot execs: its PID is the command's). */
  #chroot(info: ImageInfo, command: string[]): [string, string[]] {
    const { uid, gid } = this.user(info);
    return ['/usr/sbin/chroot', [`--userspec=${uid}:${gid}`, this.dir, 'env', '-C', info.Config.WorkingDir || '/', '--', ...command]];
  }

  /** Runs the image's command (with `args` in place of Cmd) and resolves once it listens and is ready. */
  run(info: ImageInfo, env: Record<string, string>, args: string[] = []): Promise<Launched> {
    return launch(() => this.#chroot(info, ImageRoot.commandOf(info, args)), {}, { exactEnv: true, env: { ...envOf(info), ...env } });
  }

  /** Runs the image's HEALTHCHECK command as a runtime does (in the container, with its environment); its exit status. */
  async healthcheck(info: ImageInfo, env: Record<string, string>): Promise<number> {
    const test = (info.Healthcheck ?? info.Config.Healthcheck)?.Test;
    if (test?.[0] !== 'CMD') throw new Error(`no exec-form HEALTHCHECK in the image: ${JSON.stringify(test)}`);
    const [file, args] = this.#chroot(info, test.slice(1));
    return execFileP(file, args, { env: { ...envOf(info), ...env }, timeout: 30_000 }).then(
      () => 0,
      (e: { code?: number }) => e.code ?? -1,
    );
  }

  close(): void {
    try {
      execFileSync('umount', ['--recursive', this.dir], { stdio: 'pipe' });
    } catch {
      // not (or no longer) mounted
    }
    try {
      rmdirSync(this.dir);
    } finally {
      execFileSync('podman', ['image', 'unmount', this.#ref], { stdio: 'ignore' });
    }
  }
}

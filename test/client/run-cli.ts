// Runs the command-line client (src/client/cli.ts) as a child process, asynchronously, so that a
// server living in the test's own process can answer it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = fileURLToPath(new URL('../../src/client/cli.ts', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `env` is added to this process's environment, without its STREAMER_TOKEN (a developer's own must not leak in). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const { STREAMER_TOKEN: _, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: root, env: { ...inherited, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code: unknown = err ? (err as { code?: unknown }).code : 0; // exit status, or a string on spawn failure
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

// What the project's command-line tools share: parsing flags with node's parseArgs, where a bad
// flag is a usage error, and the run harness (usage error → message and usage, exit 2; --help →
// usage, exit 0; otherwise the tool's own exit status).
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in the command line: reported with the usage text, exit status 2. */
export class UsageError extends Error {}

/** parseArgs, with its errors turned into UsageError. */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Runs a tool on this process's arguments and sets its exit code (rather than calling
 * process.exit, so that piped output is flushed completely).
 */
export async function runCli<A>(usage: string, parse: (argv: string[]) => A | 'help', run: (args: A) => Promise<number>): Promise<void> {
  let args: A | 'help';
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`error: ${err.message}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  if (args === 'help') {
    process.stdout.write(usage);
    process.exitCode = 0;
    return;
  }
  process.exitCode = await run(args);
}

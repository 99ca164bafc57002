// Entry point: command line → config → service, then signals. Exit status (README "Exit status"):
// 0 after a graceful drain, 1 when the service cannot start, is stopped by a second signal or its
// shutdown passed its hard bound (drain + finish + release time),
// 2 for a usage or config error. Expected failures print one line on stderr, never a stack trace.
import { parseFlags, runCli, UsageError } from './cli.ts';
import { ConfigError, loadConfig } from './config.ts';
import { log } from './log.ts';
import { shutdownBoundMs, startService, StartupError, type Service } from './service.ts';

/** Signals closer than this to the first one are the same operator action, delivered twice. */
const SAME_ACTION_MS = 1000;

const USAGE = `usage: npm start -- [--config FILE]      (built: node dist/main.js [--config FILE])

Serves the streaming audio inference service (README.md). Ctrl-C or SIGTERM drains running streams.

  --config FILE   JSON config file (also STREAMER_CONFIG=FILE); HOST, PORT, LOG_LEVEL and
                  STREAMER_TOKENS in the environment override it
  -h, --help      print this help

exit status: 0 drained and stopped, 1 could not start, stopped by a second signal or
             past the shutdown's bound, 2 usage or config error
`;

function parse(argv: string[]): { configPath?: string } | 'help' {
  const { values } = parseFlags({ args: argv, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return 'help';
  if (values.config === '') throw new UsageError('--config needs a file name');
  return { configPath: values.config };
}

/** Prints the one line an operator must see whatever the log level. */
const fatal = (message: string) => process.stderr.write(`streamer: ${message}\n`);

/** Whatever is still pending (a stage that never returns, a collector that does not answer), exit after `ms`. */
function exitAfterBound(ms: number): void {
  setTimeout(() => {
    log.error({ bound_ms: ms }, 'shutdown did not finish within its bound: exiting');
    fatal(`shutdown did not finish within ${ms / 1000} s (drain + finish + release time): exiting with work still pending`);
    process.exit(1);
  }, ms).unref();
}

async function serve({ configPath }: { configPath?: string }): Promise<number> {
  let config;
  try {
    config = loadConfig(configPath);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    fatal(e.message);
    return 2;
  }
  log.level = config.log_level;

  // Signals are handled from the start: one that comes while the service starts stops it as soon
  // as it is up (without a handler, the process would die of the signal, not drain and exit 0).
  let service: Service | null = null;
  let stopWhenUp: number | null = null;
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const stop = (code: number): void => {
    if (!service) {
      stopWhenUp ??= code;
      return;
    }
    service.shutdown().then(
      () => exit(code),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };

  // One operator action often reaches the server twice: a signal sent to the whole process group
  // (Ctrl-C, `timeout`, systemd) arrives from the kernel and again relayed by npm. A signal within
  // SAME_ACTION_MS of the first is that same action; a later one is a deliberate "exit now".
  let firstSignalAt: number | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = performance.now();
    if (firstSignalAt === null) {
      firstSignalAt = now;
      log.info({ signal }, 'shutting down');
      exitAfterBound(shutdownBoundMs(config.shutdown));
      stop(0);
    } else if (now - firstSignalAt < SAME_ACTION_MS) {
      log.info({ signal }, 'signal delivered again by a launcher: still draining');
    } else {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    service = await startService(config);
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    log.error({ err }, 'start-up failed'); // the detail (cause, stack) for the logs
    fatal(err.message);
    return 1;
  }
  service.warm.catch((err: unknown) => {
    log.error({ err }, 'model warm-up failed');
    fatal(`model warm-up failed: ${err instanceof Error ? err.message : String(err)}`);
    stop(1);
  });
  if (stopWhenUp !== null) stop(stopWhenUp);
  return exited;
}

await runCli(USAGE, parse, serve);
// Worker threads and timers of a stopped (or never started) service must not keep the process up.
process.exit();

// Entry point: config → telemetry → server. Exits 0 after a graceful drain on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config.ts';
import { log } from './log.ts';
import { startService } from './service.ts';

/** Signals closer than this to the first one are the same operator action, delivered twice. */
const SAME_ACTION_MS = 1000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      // Plain text on stderr whatever the log level: the operator has to see this one.
      process.stderr.write(`streamer: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  log.level = config.log_level;
  const service = await startService(config);

  // One operator action often reaches the server twice: a signal sent to the whole process group
  // (Ctrl-C, `timeout`, systemd) arrives from the kernel and again relayed by npm. A signal within
  // SAME_ACTION_MS of the first is that same action; a later one is a deliberate "exit now".
  let firstSignalAt: number | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = performance.now();
    if (firstSignalAt === null) {
      firstSignalAt = now;
      log.info({ signal }, 'shutting down');
      service.shutdown().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    } else if (now - firstSignalAt < SAME_ACTION_MS) {
      log.info({ signal }, 'signal delivered again by a launcher: still draining');
    } else {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

await main();

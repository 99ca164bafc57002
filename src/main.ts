// Entry point: config → telemetry → server. Exits 0 after a graceful drain on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config.ts';
import { log } from './log.ts';
import { startService } from './service.ts';

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

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    service.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

await main();

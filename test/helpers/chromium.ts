// Headless Chromium for the live page's tests, its fake microphone playing a WAV file (looped).
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export function findChromium(): string | undefined {
  const onPath = (process.env.PATH ?? '').split(':').filter(Boolean).map((dir) => join(dir, 'chromium'));
  return ['/usr/bin/chromium', ...onPath].find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Launches Chromium at `executablePath` with `wav` as the microphone (granted without asking), plus `extraArgs`. */
export function launchWithMicrophone(executablePath: string, wav: string, extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      ...extraArgs,
    ],
  });
}

/** The page's uncaught errors and console errors, collected from now on (for a failing test's message). */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

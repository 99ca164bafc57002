// Starts the real service in-process on 127.0.0.1:0 with a fast simulated model.
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/service.ts';
import { readWav } from '../../src/client/wav.ts';

export const FAST_MODEL = { delay: 0.005, constant_factor: 0, jitter: 0, warmup_penalty: 0, workers: 2 };

export interface TestService extends Service {
  ws(route: 'simple' | 'segmented'): string;
}

export async function startTestService(overrides: Record<string, unknown> = {}): Promise<TestService> {
  const { model, ...rest } = overrides as { model?: Record<string, unknown> };
  const config = parseConfig({ host: '127.0.0.1', port: 0, ...rest, model: { ...FAST_MODEL, ...model } });
  const service = await startService(config);
  await service.warm;
  return Object.assign(service, { ws: (route: string) => `${service.url.replace('http', 'ws')}/api/v1/${route}` });
}

export interface Region {
  start: number;
  end: number;
  text: string;
}

/** The committed espeak-ng fixture and its ground-truth speech regions (test/fixtures/make-fixtures.sh). */
export function speechFixture() {
  const url = new URL('../fixtures/speech.wav', import.meta.url);
  const truth = JSON.parse(readFileSync(new URL('../fixtures/speech.json', import.meta.url), 'utf8')) as { duration: number; regions: Region[] };
  return { path: url.pathname, ...readWav(url.pathname), ...truth };
}

export const S16_MONO_16K = { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false };

/** Deterministic pseudo-random generator so that failures can be replayed. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

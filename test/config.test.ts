import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../src/config.ts';

test('defaults are the documented ones', () => {
  const c = parseConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.host, '127.0.0.1', 'loopback unless asked: auth is off by default');
  assert.deepEqual(
    { ...c.model, workers: undefined },
    { backend: 'simulated', delay: 0.03, constant_factor: 0.05, jitter: 0.01, failure_rate: 0, panic_rate: 0, warmup_penalty: 10, workers: undefined },
  );
  assert.deepEqual(c.vad, { threshold: 0.5, min_silence_ms: 300, speech_pad_ms: 30, min_speech_ms: 250, interim_interval_ms: 500, batch_wait_ms: 10, max_batch: 256, workers: Math.min(2, availableParallelism()), graph: 'matmul' });
  assert.equal(c.limits.max_channels, 8);
});

test('errors name the bad key', () => {
  assert.throws(() => parseConfig({ model: { delay: -1 } }), (e: Error) => e instanceof ConfigError && /model\.delay/.test(e.message));
  assert.throws(() => parseConfig({ model: { dealy: 1 } }), /model.*dealy/);
  assert.throws(() => parseConfig({ limits: { max_streams: 'many' } }), /limits\.max_streams/);
  assert.throws(() => parseConfig({ vad: { threshold: 2 } }), /vad\.threshold/);
});

test('file, then env PORT/HOST override', () => {
  const file = join(tmpdir(), `streamer-config-${process.pid}.json`);
  writeFileSync(file, JSON.stringify({ port: 9000, model: { delay: 0.1 } }));
  const fromFile = loadConfig(file, {});
  assert.equal(fromFile.port, 9000);
  assert.equal(fromFile.model.backend === 'simulated' && fromFile.model.delay, 0.1);
  const withEnv = loadConfig(undefined, { STREAMER_CONFIG: file, PORT: '9100', HOST: '127.0.0.1' });
  assert.equal(withEnv.port, 9100);
  assert.equal(withEnv.host, '127.0.0.1');
  assert.throws(() => loadConfig('/nonexistent.json', {}), /cannot read config file/);
  writeFileSync(file, '{ not json');
  assert.throws(() => loadConfig(file, {}), /not valid JSON/);
});

test('a bad value from the environment names its variable', () => {
  assert.throws(() => loadConfig(undefined, { STREAMER_TOKENS: 'tok1,tok2' }), /auth\.tokens\.0: .*8 characters.*\(from the environment variable STREAMER_TOKENS\)/);
  assert.throws(() => loadConfig(undefined, { LOG_LEVEL: 'verbose' }), /log_level: .*\(from the environment variable LOG_LEVEL\)/);
  assert.throws(() => loadConfig(undefined, { PORT: 'eighty' }), /port: .*\(from the environment variable PORT\)/);
  assert.throws(() => parseConfig({ port: 'eighty' }), (e: Error) => /port: /.test(e.message) && !/environment/.test(e.message), 'a file key is not blamed on the environment');
});

test('simple-route chunking: documented defaults; the minimum may not exceed the maximum', () => {
  const { pipeline } = parseConfig({});
  assert.deepEqual(pipeline, { simple_max_inflight: 2, simple_min_chunk_ms: 250, simple_max_chunk_ms: 2000 });
  assert.equal(parseConfig({ pipeline: { simple_min_chunk_ms: 2000, simple_max_chunk_ms: 2000 } }).pipeline.simple_min_chunk_ms, 2000);
  assert.throws(() => parseConfig({ pipeline: { simple_min_chunk_ms: 3000 } }), /pipeline\.simple_max_chunk_ms: simple_min_chunk_ms must not exceed simple_max_chunk_ms/);
  assert.throws(() => parseConfig({ pipeline: { simple_min_chunk_ms: -1 } }), /pipeline\.simple_min_chunk_ms/);
  assert.throws(() => parseConfig({ pipeline: { simple_max_chunk_ms: 30_001 } }), /pipeline\.simple_max_chunk_ms/);
  assert.throws(() => parseConfig({ pipeline: { simple_max_chunk_ms: 50 } }), /pipeline\.simple_max_chunk_ms/);
});

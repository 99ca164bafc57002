// The real server with the Whisper backend on a fake model (test/helpers/whisper-models.ts):
// every model run decodes to the fake's known text, on both routes, and each one is a model-stage
// RTF sample on /metrics.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { streamAudio } from '../../src/client/stream-client.ts';
import { parseConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/service.ts';
import { segmentsOf } from '../helpers/events.ts';
import { scrape } from '../helpers/prometheus.ts';
import { speechFixture } from '../helpers/service.ts';
import { writeFakeWhisper, type FakeWhisperFiles } from '../helpers/whisper-models.ts';

const TARGET = [7, 3, 12, 25, 25, 9, 41];
const KNOWN_TEXT = 'w7 w3 w12 w25 w25 w9 w41';


const fixture = speechFixture();
let files: FakeWhisperFiles | undefined;
let service: Service | undefined;
let ws: (route: string) => string;

before(async () => {
  files = await writeFakeWhisper({ target: TARGET, anyAudio: true });
  service = await startService(parseConfig({ host: '127.0.0.1', port: 0, model: { backend: 'whisper', path: files.dir, workers: 2 } }));
  await service.warm;
  ws = (route) => `${service!.url.replace('http', 'ws')}/api/v1/${route}`;
});
after(async () => {
  await service?.shutdown(0);
  if (files) await rm(files.dir, { recursive: true, force: true });
});

for (const route of ['segmented', 'simple'] as const) {
  test(`${route}: every segment carries the model's text; one model RTF sample per segment`, async () => {
    const before = await scrape(service!.url);
    const { events, closeCode } = await streamAudio({ addr: ws(route), format: fixture.format, pcm: fixture.pcm });
    assert.equal(closeCode, 1000);
    assert.equal(events.filter((e) => e.type === 'error').length, 0, JSON.stringify(events));
    const segments = segmentsOf(events);
    assert.ok(segments.length >= 2, `${segments.length} segments`);
    for (const s of segments) assert.equal(s.text, KNOWN_TEXT);
    const after = await scrape(service!.url);
    assert.equal(after.value('rtf_count', { pipeline: 'model' }) - before.value('rtf_count', { pipeline: 'model' }), segments.length);
  });
}

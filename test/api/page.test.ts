// The live microphone page (GET /), driven in real headless Chromium whose fake microphone plays the
// speech fixture (looped): its segments must show up on the page, with the service's stats, and Stop
// must end the stream on the server; when its server drains, the page moves the stream to another
// instance. A screenshot is saved to test-artifacts/page.png.
// Skips when Chromium is missing or the page is not mounted, except under CI (env CI), where it fails.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CLIENT_MODULES } from '../../src/api/page.ts';
import { collectPageErrors, findChromium, launchWithMicrophone } from '../helpers/chromium.ts';
import { audioReceived, drain, startDrainingPair } from '../helpers/draining-pair.ts';
import { scrape } from '../helpers/prometheus.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { startSwitchProxy } from '../helpers/switch-proxy.ts';

const CI = Boolean(process.env.CI);
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const fixture = speechFixture();
const regionDurations = fixture.regions.map((r) => r.end - r.start);

let service: TestService;
let browser: Browser | undefined;
before(async () => {
  service = await startTestService();
});
after(async () => {
  await browser?.close();
  await service.shutdown(0);
});

/** Skips the test with a reason, or fails it under CI, where everything must run. */
function unavailable(t: TestContext, reason: string): void {
  if (CI) assert.fail(`${reason} (CI is set: this test must run)`);
  t.skip(reason);
}

async function pageMounted(t: TestContext): Promise<boolean> {
  const res = await fetch(`${service.url}/`);
  await res.body?.cancel();
  if (res.status !== 404) return true;
  unavailable(t, 'GET / answers 404: the page routes are not mounted in src/api/app.ts');
  return false;
}

test('GET / and /page/<file> serve the page and its assets with their content types; nothing else', async (t) => {
  if (!(await pageMounted(t))) return;
  const index = await fetch(`${service.url}/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const html = await index.text();
  for (const asset of ['/page/app.js', '/page/style.css']) assert.ok(html.includes(asset), `index.html links ${asset}`);

  const types = { 'app.js': 'text/javascript', 'worklet.js': 'text/javascript', 'style.css': 'text/css', 'index.html': 'text/html' };
  for (const [file, type] of Object.entries(types)) {
    const res = await fetch(`${service.url}/page/${file}`);
    assert.equal(res.status, 200, file);
    assert.equal(res.headers.get('content-type'), `${type}; charset=utf-8`, file);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.ok((await res.text()).length > 100, `${file} has content`);
  }
  // The client modules the page streams with: JavaScript, importing only one another (no Node module, no .ts).
  const lib = mkdtempSync(join(tmpdir(), 'page-lib-'));
  t.after(() => rmSync(lib, { recursive: true, force: true }));
  for (const name of CLIENT_MODULES) {
    const res = await fetch(`${service.url}/page/lib/${name}.js`);
    assert.equal(res.status, 200, name);
    assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8', name);
    const code = await res.text();
    const file = join(lib, `${name}.mjs`);
    writeFileSync(file, code);
    const check = spawnSync(process.execPath, ['--no-experimental-strip-types', '--check', file], { encoding: 'utf8' });
    assert.equal(check.status, 0, `${name} is plain JavaScript: ${check.stderr}`);
    const imports = [...code.matchAll(/\bfrom\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
    for (const spec of imports) assert.ok(CLIENT_MODULES.some((n) => spec === `./${n}.js`), `${name} imports ${spec}: not one of the served modules`);
  }
  assert.match(await (await fetch(`${service.url}/page/app.js`)).text(), /from '\/page\/lib\/moving-stream\.js'/, 'the page streams with the client\'s own MovingStream');
  for (const path of ['/page/lib/', '/page/lib/stream-client.js', '/page/lib/connection.js', '/page/lib/moving-stream.ts', '/page/lib/..%2Fapp.js', '/page/', '/page/page.ts', '/page/..%2Fpage.ts', '/page/..%2F..%2F..%2Fpackage.json', '/page/%2e%2e/app.ts', '/page/toString', '/page/__proto__', '/index.html']) {
    const res = await fetch(`${service.url}${path}`);
    assert.equal(res.status, 404, path);
    assert.deepEqual(await res.json(), { error: 'not found' }, path);
  }
});

interface Shown {
  final: boolean;
  start: number;
  end: number;
  text: string;
}

const shownSegments = (page: Page) =>
  page.$$eval('#segments li', (items) =>
    items.map((li) => ({
      final: li.getAttribute('data-final') === 'true',
      start: Number(li.getAttribute('data-start')),
      end: Number(li.getAttribute('data-end')),
      text: li.textContent ?? '',
    })),
  );

/** The sample count the page shows for a segment (the simulated model's output). */
const shownCount = (s: Shown) => Number(/([\d,]+) samples/.exec(s.text)?.[1].replaceAll(',', '') ?? NaN);

test('in headless Chromium, the fake microphone\'s speech appears as segments with live stats; Stop ends the stream', { timeout: 90_000 }, async (t) => {
  const executablePath = findChromium();
  if (!executablePath) return unavailable(t, 'Chromium not found (/usr/bin/chromium or chromium on PATH; Debian: apt-get install chromium)');
  if (!(await pageMounted(t))) return;

  browser = await launchWithMicrophone(executablePath, fixture.path);
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  page.setDefaultTimeout(15_000);
  const pageErrors = collectPageErrors(page);

  const completedBefore = (await scrape(service.url)).value('streams_total', { route: 'segmented', outcome: 'completed' });
  await page.goto(`${service.url}/`);
  await page.getByRole('button', { name: 'Start' }).click();

  // Chromium loops the 8 s fixture from when the microphone opens, so the stream may begin inside
  // speech: the first segment can be cut short (it then starts at 0). Wait for a final segment that
  // starts after the stream did (a whole speech region) and an interim one of the next region.
  try {
    await page.waitForFunction(
      () =>
        Array.from(document.querySelectorAll('#segments li[data-final="true"]')).some((li) => Number(li.getAttribute('data-start')) >= 0.1) &&
        document.querySelector('#segments li[data-final="false"]') !== null,
      undefined,
      { timeout: 25_000, polling: 100 },
    );
  } catch (err) {
    const shown = await page.locator('main').innerText().catch(() => '(page text unavailable)');
    throw new Error(`no final + interim segment within 25 s. Page errors: ${JSON.stringify(pageErrors)}\nPage:\n${shown}`, { cause: err });
  }
  const segments = await shownSegments(page);
  const finals = segments.filter((s) => s.final);
  const whole = finals.filter((s) => s.start >= 0.1);
  const interim = segments.filter((s) => !s.final);
  const detail = JSON.stringify(segments);

  assert.equal(interim.length, 1, `one interim segment at a time: ${detail}`);
  for (const s of finals) {
    assert.ok(s.end > s.start && s.end - s.start <= 3.5, `final segment ${s.start}–${s.end} s is at most one speech region: ${detail}`);
    assert.ok(Math.abs(shownCount(s) - (s.end - s.start) * 16000) <= 16, `the page shows the model's sample count for ${s.start}–${s.end} s: ${s.text}`);
  }
  for (const s of whole) {
    const duration = s.end - s.start;
    assert.ok(duration >= 1.5 && duration <= 3.5, `final segment lasts ${duration.toFixed(3)} s: ${detail}`);
    const nearest = Math.min(...regionDurations.map((d) => Math.abs(d - duration)));
    assert.ok(nearest <= 0.4, `final segment of ${duration.toFixed(3)} s matches a fixture region (${regionDurations.map((d) => d.toFixed(3)).join(', ')} s): ${detail}`);
  }
  // Newest first: consecutive finals are separated by the fixture's silences (1.5 s, or 2.0 s across the loop).
  for (let i = 1; i < finals.length; i++) {
    const gap = finals[i - 1].start - finals[i].end;
    assert.ok(gap >= 1.0 && gap <= 2.6, `silence between segments ${gap.toFixed(3)} s: ${detail}`);
  }
  const [current] = interim;
  assert.ok(current.start >= finals[0].end + 1.0, `the interim segment belongs to the next speech region: ${detail}`);
  assert.ok(current.end > current.start && current.end - current.start <= 3.5, `interim ${current.start}–${current.end} s: ${detail}`);
  assert.match(current.text, /\d samples/);
  assert.match(await page.locator('#activity-text').innerText(), /Speech since|last speech ended/);

  // The stats line, refreshed from /metrics every 2 s: a model RTF (work was done) and our stream.
  await page.waitForFunction(
    () => Number.isFinite(parseFloat(document.getElementById('rtf')?.textContent ?? '')) && Number(document.getElementById('active-streams')?.textContent) >= 1,
    undefined,
    { timeout: 6_000, polling: 100 },
  );
  const rtf = Number(await page.locator('#rtf').innerText());
  assert.ok(rtf > 0 && rtf < 100, `model RTF ${rtf}`);
  assert.ok(Number(await page.locator('#active-streams').innerText()) >= 1);

  // The stream's own stats line (its `stats` events, every second): live, with plausible figures,
  // speech and silence both shown as the looped fixture plays.
  const streamStats = page.locator('#stream-stats');
  const shownTime = async () => Number(await streamStats.getAttribute('data-time'));
  await page.waitForFunction(() => document.getElementById('stream-stats')?.dataset.time !== undefined, undefined, { timeout: 5_000, polling: 100 });
  const firstTime = await shownTime();
  for (const speaking of ['true', 'false']) {
    await page.waitForFunction((want) => document.getElementById('stream-stats')?.dataset.speaking === want, speaking, { timeout: 12_000, polling: 100 });
  }
  await page.waitForFunction(() => (document.getElementById('stream-stats')?.dataset.rtf ?? '') !== '', undefined, { timeout: 12_000, polling: 100 });
  const line = await streamStats.innerText();
  assert.match(line, /^Your stream at \d+\.\d\d s: lag \d+\.\d\d s, model RTF \d+\.\d{3}, (speaking|silence)$/);
  const streamRtf = Number(await streamStats.getAttribute('data-rtf'));
  const lag = Number(await streamStats.getAttribute('data-lag'));
  assert.ok(streamRtf > 0 && streamRtf < 100, `the stream's model RTF ${streamRtf}`);
  assert.ok(lag >= 0 && lag < 5, `a real-time stream is not seconds behind: lag ${lag} s`);
  assert.ok((await shownTime()) > firstTime, 'the line is live: its stream time advanced');

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'page.png'), fullPage: true });

  // Stop: the page sends stop (disconnect: true); the server answers its results, stream_end, and closes.
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.waitForFunction(() => /Stream ended after/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 15_000 });
  await page.getByRole('button', { name: 'Start' }).waitFor();
  const deadline = Date.now() + 10_000;
  let metrics = await scrape(service.url);
  while (metrics.sum('active_streams') !== 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    metrics = await scrape(service.url);
  }
  assert.equal(metrics.sum('active_streams'), 0, 'the server saw the stream end');
  assert.equal(metrics.value('streams_total', { route: 'segmented', outcome: 'completed' }), completedBefore + 1, 'the stream completed (stream_end sent)');
  await page.waitForFunction(() => document.getElementById('active-streams')?.textContent === '0', undefined, { timeout: 5_000 });
  // whatever speech was in progress at Stop was closed by a final segment
  assert.equal((await shownSegments(page)).filter((s) => !s.final).length, 0);
  assert.equal(await page.locator('#errors').innerText(), '');
  assert.deepEqual(pageErrors, []);
});

/** Final segments on screen, oldest first, and checks that they follow the fixture on one timeline: each a whole speech region, apart by its silences. */
async function checkOneTimeline(page: Page, sent: number): Promise<Shown[]> {
  const finals = (await shownSegments(page)).filter((s) => s.final).reverse();
  const detail = JSON.stringify(finals.map((s) => [s.start, s.end]));
  for (let i = 1; i < finals.length; i++) {
    const gap = finals[i].start - finals[i - 1].end;
    assert.ok(gap >= 1.0 && gap <= 2.6, `between ${finals[i - 1].end} and ${finals[i].start} s the fixture's silence, no segment split or shown twice: ${detail}`);
  }
  for (const s of finals.slice(1)) {
    const nearest = Math.min(...regionDurations.map((d) => Math.abs(d - (s.end - s.start))));
    assert.ok(nearest <= 0.4, `final segment ${s.start}–${s.end} s is a whole fixture region: ${detail}`);
  }
  assert.ok(finals.at(-1)!.end <= sent + 1e-6, `nothing after the audio sent: ${detail}`);
  return finals;
}

/** Opens the page through `port`, starts the microphone and waits until `seconds` of audio were captured. */
async function startStreaming(page: Page, port: number, seconds: number): Promise<void> {
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.getByRole('button', { name: 'Start' }).click();
  await page.waitForFunction((x) => {
    const d = document.getElementById('sent')?.dataset;
    return Number(d?.samples) / Number(d?.rate) >= x;
  }, seconds, { timeout: 20_000, polling: 50 });
}

const capturedSeconds = (page: Page) => page.$eval('#sent', (el) => Number((el as HTMLElement).dataset.samples) / Number((el as HTMLElement).dataset.rate));

/** Stop, then the status must count the whole stream, on whichever connection it ended. */
async function stopAndCheckStatus(page: Page): Promise<number> {
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.waitForFunction(() => /Stream ended after/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 15_000 });
  const sent = await capturedSeconds(page);
  assert.match(await page.locator('#status').innerText(), new RegExp(`^Stream ended after ${sent.toFixed(2)} s of audio$`), 'the status counts the whole stream');
  return sent;
}

async function waitForLog(page: Page, pattern: RegExp, what: string, pageErrors: string[]): Promise<string[]> {
  try {
    await page.waitForFunction((source) => new RegExp(source).test(document.getElementById('log')?.textContent ?? ''), pattern.source, { timeout: 20_000, polling: 50 });
  } catch (err) {
    const shown = await page.locator('main').innerText().catch(() => '(page text unavailable)');
    throw new Error(`no ${what} shown within 20 s. Page errors: ${JSON.stringify(pageErrors)}\nPage:\n${shown}`, { cause: err });
  }
  return page.$$eval('#log li', (items) => items.map((li) => li.textContent ?? ''));
}

const completed = async (s: TestService) => (await scrape(s.url)).value('streams_total', { route: 'segmented', outcome: 'completed' });

test('when its server drains, the page moves the microphone stream to a new connection from the last committed point: one timeline, no segment split, shown in its log', { timeout: 90_000 }, async (t) => {
  const executablePath = findChromium();
  if (!executablePath) return unavailable(t, 'Chromium not found (/usr/bin/chromium or chromium on PATH; Debian: apt-get install chromium)');
  if (!(await pageMounted(t))) return;
  browser ??= await launchWithMicrophone(executablePath, fixture.path);

  // Instance A serves the page and the stream through a forwarder (the load balancer); `service` is B.
  const pair = await startDrainingPair();
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  page.setDefaultTimeout(15_000);
  const pageErrors = collectPageErrors(page);
  try {
    const onB = await audioReceived(service);
    const completedOnB = await completed(service);
    await startStreaming(page, pair.proxy.port, 3);
    const capturedAtNotice = await capturedSeconds(page);

    pair.proxy.switchTo(service.port);
    drain(pair, 30_000);
    const log = await waitForLog(page, /moved the stream/, 'move', pageErrors);
    const capturedAtMove = await capturedSeconds(page);
    assert.equal(log.length, 1, JSON.stringify(log));
    const m = /^Server going away \(deadline 30000 ms\): moved the stream at (\d+\.\d\d) s to a new connection \((\d+\.\d\d) s of audio sent again\)\.$/.exec(log[0]);
    assert.ok(m, log[0]);
    const [at, replayed] = [Number(m[1]), Number(m[2])];
    // The take-over point is a committed point from before the notice; the old connection had got to
    // the point plus what was sent again, which the microphone had captured by then.
    assert.ok(at <= capturedAtNotice + 0.5, `took over at ${at} s (${capturedAtNotice} s captured at the notice)`);
    assert.ok(at + replayed <= capturedAtMove + 0.011, `took over at ${at} s and sent ${replayed} s again: past the ${capturedAtMove} s captured`);

    // The microphone goes on through the new connection: speech after the move is found and shown.
    await page.waitForFunction(
      (x) => Array.from(document.querySelectorAll('#segments li[data-final="true"]')).some((li) => Number(li.getAttribute('data-start')) > x + 0.5),
      at,
      { timeout: 25_000, polling: 100 },
    );
    assert.equal((await scrape(service.url)).sum('active_streams'), 1, 'B carries the stream now');
    const sent = await stopAndCheckStatus(page);

    // B's stream completed and got the audio from the take-over point on (A's was closed by the page).
    const deadline = Date.now() + 10_000;
    while ((await completed(service)) < completedOnB + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await completed(service), completedOnB + 1);
    const onA = await audioReceived(pair.a);
    const toB = (await audioReceived(service)) - onB;
    assert.ok(Math.abs(toB - (sent - Number(m[1]))) < 0.006, `B received ${toB} s, the page captured ${sent} s and moved at ${at} s`);
    assert.ok(onA >= at - 0.005, `A received ${onA} s, up to the take-over point ${at} s at least`);

    const finals = await checkOneTimeline(page, sent);
    assert.ok(finals.some((s) => s.start > at), JSON.stringify(finals));
    assert.equal(await page.locator('#errors').innerText(), '');
    assert.deepEqual(pageErrors, []);
    await page.screenshot({ path: join(ARTIFACTS, 'page-moved.png'), fullPage: true });
  } finally {
    await page.close();
    await pair.close();
  }
});

test('when its connection drops mid-speech, the page resumes the stream on a new connection from the last committed point: every segment once, shown in its log', { timeout: 90_000 }, async (t) => {
  const executablePath = findChromium();
  if (!executablePath) return unavailable(t, 'Chromium not found (/usr/bin/chromium or chromium on PATH; Debian: apt-get install chromium)');
  if (!(await pageMounted(t))) return;
  browser ??= await launchWithMicrophone(executablePath, fixture.path);

  // The page and its stream go through a forwarder that cuts every connection at once (1006 on both sides).
  const proxy = await startSwitchProxy(service.port);
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  page.setDefaultTimeout(15_000);
  const pageErrors = collectPageErrors(page);
  try {
    const metrics = await scrape(service.url);
    const [resumesBefore, receivedBefore] = [metrics.value('stream_resumes_total', { route: 'segmented' }), metrics.sum('audio_received_seconds_total')];
    // Cut inside speech, after a whole segment was shown: its final must not come again, and the
    // segment in progress must come once, whole.
    await startStreaming(page, proxy.port, 2);
    await page.waitForFunction(
      () =>
        Array.from(document.querySelectorAll('#segments li[data-final="true"]')).some((li) => Number(li.getAttribute('data-start')) >= 0.1) &&
        (document.getElementById('activity')?.dataset.state === 'active'),
      undefined,
      { timeout: 25_000, polling: 50 },
    );
    proxy.reset();
    const log = await waitForLog(page, /resumed the stream/, 'resume', pageErrors);
    assert.equal(log.length, 1, JSON.stringify(log));
    const m = /^Connection dropped \(1006\): resumed the stream at (\d+\.\d\d) s on a new connection after (\d+) ms \((\d+\.\d\d) s of audio sent again\)\.$/.exec(log[0]);
    assert.ok(m, log[0]);
    const [at, tookMs, replayed] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.ok(replayed > 0 && tookMs < 5_000, log[0]);

    // Speech after the resume is found and shown, then Stop ends the stream on the new connection.
    await page.waitForFunction(
      (x) => Array.from(document.querySelectorAll('#segments li[data-final="true"]')).some((li) => Number(li.getAttribute('data-start')) > x + 0.5),
      at,
      { timeout: 25_000, polling: 100 },
    );
    const sent = await stopAndCheckStatus(page);

    // The server counted the resume; it got every sample, the replayed ones twice at most.
    let after = await scrape(service.url);
    const deadline = Date.now() + 10_000;
    while (after.sum('active_streams') !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await scrape(service.url);
    }
    assert.equal(after.value('stream_resumes_total', { route: 'segmented' }) - resumesBefore, 1);
    const received = after.sum('audio_received_seconds_total') - receivedBefore;
    assert.ok(received >= sent - 0.001 && received <= sent + replayed + 0.006, `the server received ${received} s for ${sent} s captured, ${replayed} s sent again`);

    const finals = await checkOneTimeline(page, sent);
    assert.ok(finals.some((s) => s.end <= at + 1e-6) && finals.some((s) => s.start > at), `segments on both sides of the resume at ${at} s: ${JSON.stringify(finals)}`);
    assert.equal((await shownSegments(page)).filter((s) => !s.final).length, 0);
    assert.equal(await page.locator('#errors').innerText(), '');
    assert.deepEqual(pageErrors, []);
    await page.screenshot({ path: join(ARTIFACTS, 'page-resumed.png'), fullPage: true });
  } finally {
    await page.close();
    await proxy.close();
  }
});

test('opened over plain HTTP from another host, the page says that the microphone needs HTTPS or localhost', { timeout: 60_000 }, async (t) => {
  const executablePath = findChromium();
  if (!executablePath) return unavailable(t, 'Chromium not found (/usr/bin/chromium or chromium on PATH; Debian: apt-get install chromium)');
  if (!(await pageMounted(t))) return;
  // A name that is not localhost, mapped to this machine: for the browser an ordinary insecure origin.
  const remote = await launchWithMicrophone(executablePath, fixture.path, ['--host-resolver-rules=MAP streamer.test 127.0.0.1']);
  try {
    const page = await remote.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`http://streamer.test:${service.port}/`);
    assert.equal(await page.evaluate(() => window.isSecureContext), false);
    await page.getByRole('button', { name: 'Start' }).click();
    await page.waitForFunction(() => (document.querySelector('#errors')?.textContent ?? '') !== '');
    const shown = await page.locator('#errors').innerText();
    assert.match(shown, /The microphone needs a secure page, and http:\/\/streamer\.test:\d+ is not one: open this page over HTTPS/);
    assert.doesNotMatch(shown, /Cannot read properties/);
  } finally {
    await remote.close();
  }
});

// Item 10: streams cut once in their speech and resumed, against the same streams uncut. The
// measurement is bench/resume.ts.
import type { BenchItem, Target } from '../item.ts';
import { FINALS_TOLERANCE_S, RESUME_CPU_TARGET, RESUME_FIRST_RESULT_TARGET_S, runResume, type ResumeOptions, type ResumeResults } from '../resume.ts';
import { num, ratio, table, type Table } from '../table.ts';

type Plan = Omit<ResumeOptions, 'onStep'>;

const SAME_EDGE_MS = Math.round(FINALS_TOLERANCE_S * 1000);

export const resume: BenchItem<Plan, ResumeResults> = {
  id: 'resume',
  title: '10 resume: streams cut once in their speech and resumed, against the same streams uncut',
  plan: ({ smoke }) =>
    smoke
      ? { streams: 2, audioSeconds: 6, cutBetween: [0.3, 0.75], staggerMs: 200 }
      : { streams: 20, audioSeconds: 30, cutBetween: [0.3, 0.75], staggerMs: 1000 },
  steps: () => 2,
  run: (plan, ctx) => runResume({ ...plan, onStep: (label) => ctx.step(label) }),
  render: (r) => resumeTables(r),
  targets(x) {
    const out: Target[] = [];
    const other = Math.max(x.cut.otherCores, x.uncut.otherCores);
    out.push({
      item: 'resume',
      target: `first new result ≤ ${RESUME_FIRST_RESULT_TARGET_S} s after the cut (max); CPU per audio-s ≤ ${RESUME_CPU_TARGET}x uncut`,
      measured: `max ${num(x.firstNewResultMaxS, 2)} s (p50 ${num(x.firstNewResultMedianS, 2)}); ${ratio(x.cpuRatio)}${other > 0.2 ? ` (other load ${num(other, 1)} cores)` : ''}`,
      met: x.firstNewResultMaxS === null ? null : x.firstNewResultMaxS <= RESUME_FIRST_RESULT_TARGET_S && x.cpuRatio <= RESUME_CPU_TARGET,
    });
    const f = x.finals;
    out.push({
      item: 'resume finals',
      target: `every stream resumed; the uncut run's finals, each once, edges within ${SAME_EDGE_MS} ms; no active twice`,
      measured: `${f.equal}/${f.reference} equal, ${f.shifted} shifted, ${f.lost} lost, ${f.doubled} doubled, ${f.extra} extra; ${x.failed} failed; ${x.doubledActives} active twice`,
      met: x.failed === 0 && f.equal === f.reference && f.doubled === 0 && f.extra === 0 && x.doubledActives === 0,
    });
    return out;
  },
};

function resumeTables(r: ResumeResults): Table[] {
  const { cut, uncut, finals: f } = r;
  const vs = (x: number | null, base: number | null) => (x !== null && base ? ratio(x / base) : '–');
  const measured = cut.perStream.filter((s) => s.firstNewResultS !== null).length;
  const latency = table(
    `10. Resuming: ${r.streams} real-time streams of ${r.audioSeconds} s (interim results), each through its own forwarder, cut once (reset) in its speech`,
    ['measure', 'streams', 'p50', 'max', 'vs baseline'],
    [
      ['cut → first result of the new connection beyond the old one\'s, s', String(measured), num(r.firstNewResultMedianS, 2), num(r.firstNewResultMaxS, 2), vs(r.firstNewResultMaxS, r.baselineFirstResultMaxS)],
      ['same moment uncut → first result beyond, s (baseline)', String(uncut.perStream.filter((s) => s.firstNewResultS !== null).length), num(r.baselineFirstResultMedianS, 2), num(r.baselineFirstResultMaxS, 2), '1.00x'],
      ['cut → the new stream\'s started (Resume.tookMs), ms', String(cut.perStream.filter((s) => s.tookMs !== null).length), num(r.tookMedianMs, 0), num(r.tookMaxMs, 0), ''],
      ['audio sent again (Resume.replayedSeconds), s', String(cut.perStream.filter((s) => s.replayedS !== null).length), num(r.replayedMedianS, 2), num(r.replayedMaxS, 2), ''],
    ],
    [
      'The client (streamAudio) resumes from the lost stream\'s last committed point, which stays at the start of a segment in',
      'progress: a cut in speech sends that segment\'s audio again. A result beyond = a segment (interim or final) ending after every',
      'segment the lost connection had delivered; baseline: the same audio moment of the uncut run, the first result after it',
      'ending after every one delivered by then (interims come every 0.5 s of speech, a final 0.3 s after its speech ends). The new',
      'stream\'s VAD may find the segment\'s start a window off, and its interim grid with it: its first result beyond can then come',
      'from the replayed audio itself, sooner than the uncut stream\'s next one.',
      `Finals vs the uncut run (both edges within ${SAME_EDGE_MS} ms): ${f.equal} of ${f.reference} equal, ${f.shifted} shifted further, ${f.lost} lost, ${f.doubled} doubled, ${f.extra} extra.`,
      `Segments started twice (an active while its segment was open, which the client should have dropped): ${r.doubledActives} (uncut: ${r.doubledActivesUncut}).`,
      `${r.failed} of ${r.streams} stream(s) failed (not resumed exactly once, an error, or not closed with 1000)` +
        (r.withoutNewResult > 0 ? `; ${r.withoutNewResult} cut(s) had no result after them.` : '.'),
      ...cut.perStream.flatMap((s, i) => (s.error ? [`stream ${i}: ${s.error}`] : [])),
    ],
  );
  const row = (name: string, run: ResumeResults['cut'], base: ResumeResults['cut'] | null) => [
    name,
    num(run.streamAudioSeconds, 0),
    num(run.receivedSeconds, 1),
    num(run.serverCpuSeconds, 2),
    num(run.cpuPerAudioSecond, 5),
    base ? ratio(run.cpuPerAudioSecond / base.cpuPerAudioSecond) : '1.00x',
    num(run.cpuPerReceivedSecond, 5),
    base ? ratio(run.cpuPerReceivedSecond / base.cpuPerReceivedSecond) : '1.00x',
    String(run.serverResumes),
    num(run.otherCores, 2),
  ];
  const cpu = table(
    '10b. What the replay costs the server: the cut run vs the same streams uncut (each on a fresh server, simulated model at zero cost)',
    ['run', 'stream audio s', 'received s', 'CPU s', 'CPU-s/audio-s', 'vs uncut', 'CPU-s/received-s', 'vs uncut', 'resumes (server)', 'other cores'],
    [row('uncut (baseline)', uncut, null), row('each stream cut once', cut, uncut)],
    [
      'stream audio: each second of the streams once; received: the server\'s audio_received_seconds_total (replays included).',
      `The server received ${num(r.extraReceivedS, 1)} s more audio cut than uncut; the clients sent ${num(r.replayedTotalS, 1)} s again (audio in flight at a cut is lost).`,
      'CPU-s/audio-s: server CPU (all threads, /proc) per second of the streams\' audio: what the cuts cost in all;',
      'CPU-s/received-s: per second it received: whether replayed audio costs more than live audio.',
    ],
  );
  return [latency, cpu];
}

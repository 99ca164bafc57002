// Item 6: the Whisper backend with every model present (none in CI: skipped at once). The
// measurement is bench/whisper.ts.
import type { BenchItem, Target } from '../item.ts';
import { num, ratio, type Table } from '../table.ts';
import { findBenchModels, runWhisper, type WhisperOptions, type WhisperResults } from '../whisper.ts';

/** Model RTF below which one worker keeps up with one real-time stream; the fox WER the real-model test requires. */
export const WHISPER_RTF_TARGET = 1;
export const WHISPER_WER_TARGET = 0.3;

type Plan = Omit<WhisperOptions, 'onStep'>;

export const whisper: BenchItem<Plan, WhisperResults> = {
  id: 'whisper',
  title: '6 whisper: load, model RTF and WER of every Whisper model present under models/',
  plan: ({ smoke }) => (smoke ? { reps: 1, threads: [1, 2], budgetSeconds: 10 } : { reps: 3, threads: [1, 2], budgetSeconds: 120 }),
  steps: async (plan) => (await findBenchModels()).models.length * plan.threads.length,

  async run(plan, ctx) {
    const result = await runWhisper({ ...plan, onStep: (label) => ctx.step(label) });
    // A model that fails to load is a crash, but what the others measured stays.
    for (const m of result.models) if (m.error !== null) ctx.fail(`${m.name} (${m.dir}): ${m.error}`);
    return result;
  },

  render(w) {
    const title = '6. Whisper model: load, model RTF (computeSeconds / audio s per inference) and WER on the fixtures, 1 worker';
    const incomplete = w.incomplete.map((x) => `left out: ${x.reason}`);
    if (w.skipped !== null) return [{ title, headers: [], rows: [], notes: [`skipped: ${w.skipped}`, ...incomplete] }];
    const rows: string[][] = [];
    const notes: string[] = [];
    for (const m of w.models) {
      const one = m.runs.find((r) => r.threads === 1);
      for (const r of m.runs) {
        rows.push([
          m.name,
          String(r.threads),
          num(r.loadSeconds, 2),
          num(r.firstInferenceSeconds, 2),
          `${r.passes}×${r.clips.length}`,
          num(r.audioSecondsPerPass, 1),
          num(r.rtfMedian, 3),
          num(r.rtfMax, 3),
          num(r.rtfTotal, 3),
          one ? ratio(one.rtfMedian / r.rtfMedian) : '–',
          num(r.cpuPerAudioSecond, 3),
          num(r.cores, 2),
          num(r.foxWer, 2),
          num(r.speechWer, 2),
          num(r.otherCores, 2),
        ]);
      }
      const fox = m.runs[0]?.clips.find((c) => c.name === 'fox');
      notes.push(`${m.name}: ${m.dir} (${m.encoder ?? '?'}, ${m.decoder ?? '?'})${fox ? `; fox heard as "${fox.text}"` : ''}`);
      if (m.error !== null) notes.push(`${m.name}: FAILED: ${m.error}`);
    }
    const table: Table = {
      title,
      headers: ['model', 'threads', 'load s', '1st inf s', 'passes', 'audio s/pass', 'RTF p50', 'RTF max', 'RTF all', 'vs 1 thread', 'CPU-s/audio-s', 'cores', 'WER fox', 'WER speech', 'other cores'],
      rows,
      notes: [
        'Clips: the two sentences of speech.wav (speech.json regions ± 30 ms, as the VAD cuts them) and quick-brown-fox.wav.',
        'load: WhisperModel.load (files, metadata, worker pool); 1st inf: the warm-up inference, which creates the sessions.',
        'RTF p50/max over every measured inference; RTF all = Σ compute / Σ audio; vs 1 thread = RTF p50 at 1 thread / this one.',
        'Whisper pads every window to 30 s, so a short segment costs nearly what 30 s would: RTF falls as segments grow.',
        'CPU-s/audio-s and cores: this process (worker and onnxruntime threads included) over the measured passes.',
        ...notes,
        ...incomplete,
      ],
    };
    return [table];
  },

  targets(w) {
    const out: Target[] = [];
    if (w.skipped !== null) {
      out.push({ item: 'whisper', target: `RTF p50 < ${WHISPER_RTF_TARGET} at 2 threads, fox WER < ${WHISPER_WER_TARGET}`, measured: 'skipped (no model)', met: null });
    }
    for (const m of w.models) {
      const best = m.runs.find((x) => x.threads === 2) ?? m.runs.at(-1);
      out.push({
        item: `whisper ${m.name}`,
        target: `RTF p50 < ${WHISPER_RTF_TARGET} at 2 threads`,
        measured: best ? `${num(best.rtfMedian, 3)} at ${best.threads} thread(s)` : 'not measured',
        met: best ? (best.threads === 2 ? best.rtfMedian < WHISPER_RTF_TARGET : null) : null,
      });
      out.push({
        item: `whisper ${m.name}`,
        target: `fox WER < ${WHISPER_WER_TARGET}`,
        measured: best ? num(best.foxWer, 2) : 'not measured',
        met: best ? best.foxWer < WHISPER_WER_TARGET : null,
      });
    }
    return out;
  },
};

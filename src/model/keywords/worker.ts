// Worker thread of the keywords backend: runs the spotter (spotter.ts) on one piece of a channel's
// audio. The channel's state comes with the job and goes back with the result, so any worker can
// take a channel's next piece; the sessions are loaded on a worker's first job and kept.
import { KeywordSessions, type Detection, type SpotterFiles, type SpotterState } from './spotter.ts';

export interface KeywordsJob {
  files: SpotterFiles;
  threshold: number;
  /** 16 kHz mono samples (transferred). */
  samples: Float32Array;
  /** Index of `samples[0]` in the stream: where a new state starts. */
  start: number;
  /** The channel's state after its previous piece; null: a new channel (or a one-off segment). */
  state: SpotterState | null;
  /** Return the state after this piece (a channel goes on); false: a self-contained segment (`state` null). */
  keep: boolean;
}

export type KeywordsJobResult = { ok: true; detections: Detection[]; state: SpotterState | null } | { ok: false; error: string };

let loaded: { key: string; sessions: Promise<KeywordSessions> } | null = null;

function sessions(files: SpotterFiles): Promise<KeywordSessions> {
  const key = JSON.stringify(files);
  if (!loaded || loaded.key !== key) loaded = { key, sessions: KeywordSessions.load(files) };
  return loaded.sessions;
}

async function spot(job: KeywordsJob): Promise<KeywordsJobResult> {
  let spotter: KeywordSessions;
  try {
    spotter = await sessions(job.files);
  } catch (err) {
    loaded = null; // try again on the next job
    return { ok: false, error: `loading the models: ${err instanceof Error ? err.message : String(err)}` };
  }
  try {
    if (!job.keep) return { ok: true, detections: await spotter.segment(job.samples, job.start, job.threshold), state: null };
    const state = job.state ?? spotter.open(job.start);
    const { detections } = await spotter.feed(state, job.samples, job.threshold);
    return { ok: true, detections, state };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

export default spot;

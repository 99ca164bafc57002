// openWakeWord's streaming keyword spotting on onnxruntime-node: 16 kHz audio → melspectrogram
// (one 32-bin frame per 160 samples) → speech embedding (one per 8 frames, i.e. per 80 ms step, over
// the last 76 frames) → keyword heads (a score per step over the last K embeddings). A channel's
// state (audio context, mel frames, embeddings, detection memory) is plain data, so that any worker
// can take the next piece of a channel: feeding audio in pieces of any size gives the same scores as
// feeding it in one piece.
import * as ort from 'onnxruntime-node';
import { MODEL_SAMPLE_RATE } from '../../audio/format.ts';

/** Samples per step: one embedding and one score per keyword every 80 ms. */
export const STEP = 1280;
/** Samples before a step that its mel frames also see (512-sample FFT window, 160 hop). */
export const MEL_CONTEXT = 480;
export const MEL_FRAMES_PER_STEP = 8;
export const MEL_BINS = 32;
/** Mel frames per embedding. */
export const EMBEDDING_WINDOW = 76;
export const EMBEDDING_SIZE = 96;
/**
 * As openWakeWord: the first 5 steps of a stream score 0. It zeroes a label's first 5 predictions
 * (one per call, i.e. per 80 ms step when fed 80 ms frames) while its buffers hold start-up values.
 */
export const WARMUP_STEPS = 5;
/**
 * Silence fed after a self-contained segment (6 steps, 0.48 s): a head scores a keyword a few steps
 * after it ends, which can be past the end of a segment cut 30 ms after the speech (measured: 0.12–0.20 s).
 */
export const SEGMENT_TAIL = 6 * STEP;
/** No second detection of a keyword within this many steps (13 × 80 ms = 1.04 s). */
export const REFRACTORY_STEPS = 13;
/** The service's samples are in [-1, 1]; the melspectrogram model takes int16 scale. */
const INT16_SCALE = 32768;

export interface HeadFile {
  /** The configured keyword name (e.g. `hey_jarvis`). */
  name: string;
  path: string;
}

export interface SpotterFiles {
  melspectrogram: string;
  embedding: string;
  heads: HeadFile[];
}

export interface Detection {
  keyword: string;
  score: number;
  /** Seconds since the start of the stream: the end of the step whose score crossed the threshold. */
  time: number;
}

interface Head {
  session: ort.InferenceSession;
  input: string;
  output: string;
  /** Embeddings the head looks at. */
  window: number;
  /** The labels it scores: one for a keyword head, several for a classifier (timer); `index` in its output. */
  labels: { label: string; index: number }[];
}

/** One channel's streaming state: typed arrays and numbers only (it crosses threads with each job). */
export interface SpotterState {
  /** Sample index (since the start of the stream) just past the audio fed so far. */
  end: number;
  /** Audio of the step in progress (fewer than STEP samples), int16 scale. */
  pending: Float32Array;
  /** The MEL_CONTEXT samples before `pending`, int16 scale. */
  context: Float32Array;
  /** The last EMBEDDING_WINDOW mel frames × MEL_BINS. */
  mel: Float32Array;
  /** The last `history` embeddings × EMBEDDING_SIZE. */
  embeddings: Float32Array;
  /** Steps scored so far. */
  steps: number;
  /** Per label: the previous step's score (a detection is a crossing of the threshold). */
  previous: Float32Array;
  /** Per label: the step of its last detection (-Infinity: none yet). */
  lastFired: Float64Array;
}

export interface FeedResult {
  detections: Detection[];
  /** Scores of the steps completed by this piece: step after step, each `labels.length` values. */
  scores: Float32Array;
  /** Index (since the start of the stream) of the first step in `scores`. */
  firstStep: number;
}

/**
 * openWakeWord's streaming rule for one label at `step`: a detection when its score crosses the
 * threshold (this step at or above, the previous one below), unless it fired within REFRACTORY_STEPS.
 */
export function fires(score: number, previous: number, step: number, lastFired: number, threshold: number): boolean {
  return score >= threshold && previous < threshold && step - lastFired >= REFRACTORY_STEPS;
}

function floats(tensor: ort.Tensor): Float32Array {
  return tensor.data as Float32Array;
}

export class KeywordSessions {
  /** Every label scored, in the order of a step's scores. */
  readonly labels: string[];
  /** Embeddings kept per channel: the longest head window. */
  readonly history: number;

  private readonly mel: ort.InferenceSession;
  private readonly embedding: ort.InferenceSession;
  private readonly heads: Head[];
  /** What digital silence leaves in a channel's mel frames and embeddings: a new channel starts from it. */
  private readonly silence: { mel: Float32Array; embeddings: Float32Array };
  private constructor(mel: ort.InferenceSession, embedding: ort.InferenceSession, heads: Head[]) {
    this.mel = mel;
    this.embedding = embedding;
    this.heads = heads;
    this.labels = heads.flatMap((h) => h.labels.map((l) => l.label));
    this.history = Math.max(...heads.map((h) => h.window));
    this.silence = { mel: new Float32Array(EMBEDDING_WINDOW * MEL_BINS), embeddings: new Float32Array(this.history * EMBEDDING_SIZE) };
  }

  /** Loads the sessions and checks each model's inputs and outputs (a failure names the file). */
  static async load(files: SpotterFiles, threads = 1): Promise<KeywordSessions> {
    const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
    const open = async (path: string) => {
      try {
        return await ort.InferenceSession.create(path, options);
      } catch (err) {
        throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    const opened: ort.InferenceSession[] = [];
    try {
      const mel = await open(files.melspectrogram);
      opened.push(mel);
      const embedding = await open(files.embedding);
      opened.push(embedding);
      const heads: Head[] = [];
      for (const file of files.heads) {
        const session = await open(file.path);
        opened.push(session);
        heads.push(describeHead(file, session));
      }
      const sessions = new KeywordSessions(mel, embedding, heads);
      await sessions.fillSilence();
      return sessions;
    } catch (err) {
      await Promise.all(opened.map((s) => s.release()));
      throw err;
    }
  }

  /**
   * The buffers after enough digital silence to fill them. Every step of silence gives the same
   * frames, so the last 76 frames, and the embedding of each step, are the same at every step.
   */
  private async fillSilence(): Promise<void> {
    const frames = await this.melFrames(new Float32Array(MEL_CONTEXT + STEP));
    const { mel, embeddings } = this.silence;
    for (let f = 0; f < EMBEDDING_WINDOW; f++) {
      // Frame f of the window is this many frames before the end of a step.
      const beforeEnd = (EMBEDDING_WINDOW - 1 - f) % MEL_FRAMES_PER_STEP;
      const k = MEL_FRAMES_PER_STEP - 1 - beforeEnd;
      mel.set(frames.subarray(k * MEL_BINS, (k + 1) * MEL_BINS), f * MEL_BINS);
    }
    const embedded = await this.embed(mel, 1);
    for (let i = 0; i < this.history; i++) embeddings.set(embedded, i * EMBEDDING_SIZE);
  }

  /**
   * A new channel whose first sample is sample `start` of the stream, with digital silence before
   * it. Buffers that are no audio (openWakeWord starts its mel frames at ones) stay in the heads'
   * windows past the 5 zeroed steps: from mel ones and their embedding, low-level noise at the start
   * of a stream scored 'alexa' up to 0.71 at 0.48–0.8 s; from silence, 0.01.
   */
  open(start = 0): SpotterState {
    return {
      end: start,
      pending: new Float32Array(0),
      context: new Float32Array(MEL_CONTEXT),
      mel: this.silence.mel.slice(),
      embeddings: this.silence.embeddings.slice(),
      steps: 0,
      previous: new Float32Array(this.labels.length),
      lastFired: new Float64Array(this.labels.length).fill(-Infinity),
    };
  }

  /**
   * A self-contained segment whose first sample is sample `start` of the stream, scored as a stream
   * of its own: silence before it (a new channel) and SEGMENT_TAIL of silence after it. A detection
   * in that silence is reported at the segment's end.
   */
  async segment(samples: Float32Array, start: number, threshold: number): Promise<Detection[]> {
    const state = this.open(start);
    const { detections } = await this.feed(state, samples, threshold);
    const tail = await this.feed(state, new Float32Array(SEGMENT_TAIL), threshold);
    const end = (start + samples.length) / MODEL_SAMPLE_RATE;
    return [...detections, ...tail.detections.map((d) => ({ ...d, time: Math.min(d.time, end) }))];
  }

  /**
   * Feeds the channel's next `samples` (16 kHz, [-1, 1]) and updates `state` in place. Every whole
   * 80 ms step gets its scores; the rest waits in the state for the next piece.
   */
  async feed(state: SpotterState, samples: Float32Array, threshold: number): Promise<FeedResult> {
    const audio = new Float32Array(state.pending.length + samples.length);
    audio.set(state.pending);
    for (let i = 0; i < samples.length; i++) audio[state.pending.length + i] = samples[i] * INT16_SCALE;
    const steps = Math.floor(audio.length / STEP);
    const firstStep = state.steps;
    const stepsStart = state.end - state.pending.length;
    state.end += samples.length;
    if (steps === 0) {
      state.pending = audio;
      return { detections: [], scores: new Float32Array(0), firstStep };
    }
    const used = audio.subarray(0, steps * STEP);

    // Each step's mel frames come from a run of their own over the step and its context, as in
    // openWakeWord's streaming: the model floors its output at 80 dB under the maximum of the whole
    // input, so a run over several steps would give other values than step by step.
    const frames = new Float32Array(steps * MEL_FRAMES_PER_STEP * MEL_BINS);
    const melInput = new Float32Array(MEL_CONTEXT + STEP);
    for (let s = 0; s < steps; s++) {
      if (s === 0) melInput.set(state.context);
      else melInput.set(used.subarray(s * STEP - MEL_CONTEXT, s * STEP));
      melInput.set(used.subarray(s * STEP, (s + 1) * STEP), MEL_CONTEXT);
      frames.set(await this.melFrames(melInput), s * MEL_FRAMES_PER_STEP * MEL_BINS);
    }
    const melAll = new Float32Array(state.mel.length + frames.length);
    melAll.set(state.mel);
    melAll.set(frames, state.mel.length);
    const windows = new Float32Array(steps * EMBEDDING_WINDOW * MEL_BINS);
    for (let s = 0; s < steps; s++) {
      const from = (s + 1) * MEL_FRAMES_PER_STEP * MEL_BINS;
      windows.set(melAll.subarray(from, from + EMBEDDING_WINDOW * MEL_BINS), s * EMBEDDING_WINDOW * MEL_BINS);
    }
    const embedded = await this.embed(windows, steps);
    const history = new Float32Array(state.embeddings.length + embedded.length);
    history.set(state.embeddings);
    history.set(embedded, state.embeddings.length);

    const labels = this.labels.length;
    const scores = new Float32Array(steps * labels);
    const detections: Detection[] = [];
    for (let s = 0; s < steps; s++) {
      const step = firstStep + s;
      const newest = this.history + s + 1; // embeddings in `history` up to this step's
      let l = 0;
      for (const head of this.heads) {
        const from = (newest - head.window) * EMBEDDING_SIZE;
        const input = history.slice(from, newest * EMBEDDING_SIZE);
        const out = await head.session.run({ [head.input]: new ort.Tensor('float32', input, [1, head.window, EMBEDDING_SIZE]) });
        const values = floats(out[head.output]);
        for (const { label, index } of head.labels) {
          const score = step < WARMUP_STEPS ? 0 : values[index];
          scores[s * labels + l] = score;
          if (fires(score, state.previous[l], step, state.lastFired[l], threshold)) {
            state.lastFired[l] = step;
            detections.push({ keyword: label, score, time: (stepsStart + (s + 1) * STEP) / MODEL_SAMPLE_RATE });
          }
          state.previous[l] = score;
          l++;
        }
      }
    }

    state.context = used.slice(used.length - MEL_CONTEXT);
    state.pending = audio.slice(steps * STEP);
    state.mel = melAll.slice(melAll.length - state.mel.length);
    state.embeddings = history.slice(history.length - state.embeddings.length);
    state.steps += steps;
    return { detections, scores, firstStep };
  }

  /** The mel frames of one step and its context (int16 scale), with openWakeWord's x / 10 + 2. */
  private async melFrames(input: Float32Array): Promise<Float32Array> {
    const out = await this.mel.run({ input: new ort.Tensor('float32', input, [1, input.length]) });
    const frames = floats(out[this.mel.outputNames[0]]);
    if (frames.length !== MEL_FRAMES_PER_STEP * MEL_BINS) {
      throw new Error(`melspectrogram gave ${frames.length / MEL_BINS} frames for ${input.length} samples, expected ${MEL_FRAMES_PER_STEP}`);
    }
    const result = new Float32Array(frames.length);
    for (let i = 0; i < frames.length; i++) result[i] = frames[i] / 10 + 2;
    return result;
  }

  /** Embeddings (`count` × 96) of `count` windows of 76 mel frames. */
  private async embed(windows: Float32Array, count: number): Promise<Float32Array> {
    const out = await this.embedding.run({ [this.embedding.inputNames[0]]: new ort.Tensor('float32', windows, [count, EMBEDDING_WINDOW, MEL_BINS, 1]) });
    return floats(out[this.embedding.outputNames[0]]);
  }

  async release(): Promise<void> {
    await Promise.all([this.mel, this.embedding, ...this.heads.map((h) => h.session)].map((s) => s.release()));
  }
}

/**
 * A head's window and labels from its I/O: input [1, K, 96]; output [1, 1] (the keyword) or
 * [1, C] whose name is openWakeWord's JSON map of class index → label (class 0: none of them).
 */
function describeHead(file: HeadFile, session: ort.InferenceSession): Head {
  const fail = (why: string): never => {
    throw new Error(`${file.path}: not an openWakeWord keyword model (${why})`);
  };
  const input = session.inputMetadata[0];
  const output = session.outputMetadata[0];
  if (session.inputNames.length !== 1 || !input?.isTensor) return fail('expected one input');
  const [batch, window, width] = input.shape;
  if (batch !== 1 || typeof window !== 'number' || width !== EMBEDDING_SIZE) return fail(`input shape [${input.shape.join(', ')}], expected [1, K, ${EMBEDDING_SIZE}]`);
  if (!output?.isTensor || output.shape.length !== 2 || typeof output.shape[1] !== 'number') return fail('expected one output [1, C]');
  const classes = output.shape[1];
  if (classes === 1) return { session, input: input.name, output: output.name, window, labels: [{ label: file.name, index: 0 }] };
  let names: Record<string, string>;
  try {
    names = JSON.parse(output.name) as Record<string, string>;
  } catch {
    return fail(`${classes} classes without a JSON map of their names`);
  }
  const labels = Object.entries(names)
    .map(([index, label]) => ({ label, index: Number(index) }))
    .filter((l) => Number.isInteger(l.index) && l.index > 0 && l.index < classes)
    .sort((a, b) => a.index - b.index);
  if (labels.length === 0) return fail('no class names');
  return { session, input: input.name, output: output.name, window, labels };
}

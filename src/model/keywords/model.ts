// The keywords backend: openWakeWord's streaming keyword spotting (spotter.ts) behind the Model
// interface, on the worker pool (the `inference` task). Output: `keywords`, the detections in the
// audio given, [{keyword, score, time}] (time: seconds since the start of the stream).
//
// Simple mode opens a channel per stream channel: its pieces run one after the other (each needs
// the state the previous one left), the state travelling with each job, so any worker takes the
// next piece and a crashed worker loses only its piece (the channel then starts afresh). Segmented
// mode runs each speech segment on its own: from a fresh state, with silence after it.
import { microseconds } from '../../audio/format.ts';
import type { KeywordsModelConfig } from '../../config.ts';
import type { ServiceContext } from '../../context.ts';
import { log } from '../../log.ts';
import { siblingModule, type JobRun, type WorkerPool } from '../../task.ts';
import type { InferenceResult, Model, ModelChannel } from '../model.ts';
import { bundledKeywordModelsDir, findKeywordFiles } from './files.ts';
import { KeywordSessions, type SpotterFiles, type SpotterState } from './spotter.ts';
import type { KeywordsJob, KeywordsJobResult } from './worker.ts';

type Pool = WorkerPool<KeywordsJob, KeywordsJobResult>;

export class KeywordsModel implements Model {
  readonly name = 'keywords';
  readonly files: SpotterFiles;
  /** Every label the heads score (a classifier head has several). */
  readonly labels: string[];

  private readonly threshold: number;
  private readonly pool: Pool;
  private constructor(files: SpotterFiles, labels: string[], threshold: number, pool: Pool) {
    this.files = files;
    this.labels = labels;
    this.threshold = threshold;
    this.pool = pool;
  }

  /** Finds and checks the models here (failing fast at start-up); each worker loads its own sessions on its first job. */
  static async load(config: KeywordsModelConfig, service: ServiceContext): Promise<KeywordsModel> {
    const files = await findKeywordFiles(config.path ?? bundledKeywordModelsDir(), config.keywords);
    const check = await KeywordSessions.load(files);
    const labels = check.labels;
    await check.release();
    const pool = service.tasks.createWorkerPool<KeywordsJob, KeywordsJobResult>('inference', siblingModule('worker', import.meta.url), config.workers);
    log.info({ models: files, labels, threshold: config.threshold }, 'keywords model loaded');
    return new KeywordsModel(files, labels, config.threshold, pool);
  }

  /** Runs `samples` through the spotter from `state` (null: fresh at `start`). */
  run(samples: Float32Array, start: number, state: SpotterState | null, keep: boolean) {
    // Transfer, not copy, to the worker; a view into a larger buffer is copied first.
    const owned = samples.byteOffset === 0 && samples.byteLength === samples.buffer.byteLength ? samples : samples.slice();
    const job: KeywordsJob = { files: this.files, threshold: this.threshold, samples: owned, start, state, keep };
    return this.pool.run(job, [owned.buffer as ArrayBuffer]);
  }

  /** A self-contained piece of audio (a speech segment): from a fresh state, with silence after it (spotter.segment). */
  async infer(samples: Float32Array, start = 0, timeOffset = 0): Promise<InferenceResult> {
    return toResult(await this.run(samples, start, null, false), timeOffset);
  }

  openChannel(): ModelChannel {
    return new KeywordsChannel(this);
  }

  /** One job per worker, all at once, so that every worker has loaded its sessions before the server is ready. */
  async warmup(): Promise<void> {
    const runs = await Promise.all(Array.from({ length: this.pool.size }, () => this.run(new Float32Array(16_000), 0, null, false)));
    const failed = runs.map((r) => r.value).find((v) => !v.ok);
    if (failed && !failed.ok) {
      const why = failed.error.replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
      throw new Error(`keywords model cannot run: ${why}; use openWakeWord's ONNX models as models/README.md ("Keyword spotting") describes them`);
    }
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

/** The worker's answer as the model's result; detection times moved onto the client's timeline. */
function toResult({ value, runSeconds, startedAt, finishedAt }: JobRun<KeywordsJobResult>, timeOffset: number): InferenceResult {
  const ran = { startedAt, finishedAt };
  if (!value.ok) {
    log.error({ error: value.error }, 'keywords inference failed');
    return { ok: false, error: 'inference failed', computeSeconds: runSeconds, ran };
  }
  // Times as clients are told them: on the stream's timeline, to the microsecond.
  const keywords = value.detections.map((d) => ({ ...d, time: microseconds(d.time + timeOffset) }));
  return { ok: true, output: { keywords }, computeSeconds: runSeconds, ran };
}

/** A channel's pieces, run one after the other with the state each one leaves. */
class KeywordsChannel implements ModelChannel {
  private state: SpotterState | null = null;
  private last: Promise<unknown> = Promise.resolve();

  private readonly model: KeywordsModel;
  constructor(model: KeywordsModel) {
    this.model = model;
  }

  infer(samples: Float32Array, start = 0, timeOffset = 0): Promise<InferenceResult> {
    const result = this.last.then(async () => {
      try {
        const run = await this.model.run(samples, start, this.state, true);
        // A failed piece leaves no state: the channel's next piece starts afresh.
        this.state = run.value.ok ? run.value.state : null;
        return toResult(run, timeOffset);
      } catch (err) {
        this.state = null;
        throw err;
      }
    });
    this.last = result.catch(() => undefined);
    return result;
  }

  close(): void {
    // Pieces still queued run (the caller drops their results); then the state goes with this object.
  }
}

// One audio stream of a websocket session: decode the interleaved PCM, resample to 16 kHz, split
// the channels and drive one runner per channel (simple or segmented). Channels are independent.
import type { AudioFormat, VadTuning } from '../api/protocol.ts';
import { deinterleave, PcmDecoder } from '../audio/pcm-decoder.ts';
import { createResampler, type Resampler } from '../audio/resampler.ts';
import type { Config } from '../config.ts';
import type { Model } from '../model/index.ts';
import { guardSync } from '../task.ts';
import { Segmenter } from '../vad/segmenter.ts';
import type { SileroVad } from '../vad/silero.ts';
import type { ChannelRunner } from './channel-runner.ts';
import { OrderedOutput, type Send } from './ordered-output.ts';
import { SegmentedRunner } from './segmented-runner.ts';
import { SimpleRunner } from './simple-runner.ts';

export type Mode = 'simple' | 'segmented';

export interface StreamParams {
  mode: Mode;
  format: AudioFormat;
  interimResults: boolean;
  vad?: VadTuning;
}

/** What every stream shares: loaded once at start-up. */
export interface PipelineDeps {
  config: Config;
  model: Model;
  vad: SileroVad;
}

export class AudioStream {
  private released = false;

  private constructor(
    private readonly params: StreamParams,
    private readonly decoder: PcmDecoder,
    private readonly resampler: Resampler,
    private readonly channels: ChannelRunner[],
  ) {}

  static async open(params: StreamParams, deps: PipelineDeps, send: Send): Promise<AudioStream> {
    const { format } = params;
    const resampler = await createResampler(format.sample_rate, format.channels);
    const channels = Array.from({ length: format.channels }, (_, c) => createRunner(c, params, deps, new OrderedOutput(send)));
    return new AudioStream(params, new PcmDecoder(format), resampler, channels);
  }

  /** Seconds of audio received so far, per channel. */
  get durationSeconds(): number {
    return this.decoder.frames / this.params.format.sample_rate;
  }

  /** Decodes one binary frame and hands each channel its 16 kHz audio (synchronous, short). */
  push(bytes: Uint8Array): void {
    const perChannel = guardSync('audio_decoding', () => {
      const samples = this.decoder.decode(bytes);
      return deinterleave(this.resampler.process(samples), this.params.format.channels);
    });
    perChannel.forEach((samples, c) => this.channels[c].push(samples));
  }

  async finalize(): Promise<void> {
    await Promise.all(this.channels.map((c) => c.finalize()));
  }

  /** End of audio: every result is sent when this resolves. Returns per-channel durations. */
  async finish(): Promise<number[]> {
    const tail = guardSync('audio_decoding', () => deinterleave(this.resampler.flush(), this.params.format.channels));
    tail.forEach((samples, c) => this.channels[c].push(samples));
    await Promise.all(this.channels.map((c) => c.end()));
    this.release();
    return this.channels.map(() => this.durationSeconds);
  }

  abort(): void {
    for (const c of this.channels) c.abort();
    this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.resampler.destroy();
  }
}

function createRunner(channel: number, params: StreamParams, deps: PipelineDeps, out: OrderedOutput): ChannelRunner {
  if (params.mode === 'simple') return new SimpleRunner(channel, deps.model, out, deps.config.pipeline.simple_max_inflight);
  const defaults = deps.config.vad;
  const tuning = params.vad ?? {};
  const segmenter = new Segmenter({
    threshold: tuning.threshold ?? defaults.threshold,
    minSilenceMs: tuning.min_silence_ms ?? defaults.min_silence_ms,
    speechPadMs: tuning.speech_pad_ms ?? defaults.speech_pad_ms,
    minSpeechMs: tuning.min_speech_ms ?? defaults.min_speech_ms,
    interimIntervalMs: params.interimResults ? defaults.interim_interval_ms : 0,
  });
  return new SegmentedRunner(channel, deps.vad, segmenter, deps.model, out);
}

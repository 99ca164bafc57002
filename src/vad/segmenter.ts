// Speech segmentation from per-window speech probabilities, after Silero's own rules: hysteresis
// between `threshold` and `threshold - 0.15`, a segment ends after `min_silence` of silence, is
// padded by `speech_pad` on both sides, and is dropped if shorter than `min_speech`. Streaming:
// `active` is announced once a segment is long enough to be kept; interims end on a fixed grid
// from its padded start (audio time, not arrival). Units are 16 kHz samples.

export interface SegmenterSettings {
  threshold: number;
  minSilenceMs: number;
  speechPadMs: number;
  minSpeechMs: number;
  /** Interim segments end on a grid of this step from the segment's (padded) start; 0: no interims. */
  interimIntervalMs: number;
}

/** What a stream may tune of the defaults (unset: the service's configured value). */
export type SegmenterTuning = Partial<Pick<SegmenterSettings, 'threshold' | 'minSilenceMs' | 'speechPadMs' | 'minSpeechMs'>>;

export type SegmentEvent =
  | { kind: 'active'; start: number }
  | { kind: 'interim'; start: number; end: number }
  | { kind: 'final'; start: number; end: number };

const msToSamples = (ms: number) => Math.round((ms * 16_000) / 1000);

export class Segmenter {
  private readonly threshold: number;
  private readonly negThreshold: number;
  private readonly minSilence: number;
  private readonly pad: number;
  private readonly minSpeech: number;
  private readonly interimInterval: number;

  /** Start (unpadded) of the speech in progress, or null outside speech. */
  private speechStart: number | null = null;
  /** Start of the silence that may end the speech in progress. */
  private silenceStart: number | null = null;
  /** Padded start of the current segment once it is long enough to be announced. */
  private announcedStart: number | null = null;
  /** End of the next interim: a point of the grid from `announcedStart` (fixed: no drift). */
  private nextInterimAt = 0;
  /** End of the previous segment: padding never reaches back into it. */
  private previousEnd = 0;

  constructor(settings: SegmenterSettings) {
    this.threshold = settings.threshold;
    this.negThreshold = Math.max(0.01, settings.threshold - 0.15);
    this.minSilence = msToSamples(settings.minSilenceMs);
    this.pad = msToSamples(settings.speechPadMs);
    this.minSpeech = msToSamples(settings.minSpeechMs);
    this.interimInterval = msToSamples(settings.interimIntervalMs);
  }

  /** True while a segment has been announced and not yet closed. */
  get inSpeech(): boolean {
    return this.announcedStart !== null;
  }

  /** Earliest sample a segment can still include, given audio analysed up to `now`: older audio can go. */
  retainFrom(now: number): number {
    if (this.announcedStart !== null) return this.announcedStart;
    const start = this.speechStart ?? now;
    return Math.max(this.previousEnd, start - this.pad);
  }

  /** Feeds the probability of the window [start, end). */
  push(prob: number, start: number, end: number): SegmentEvent[] {
    const events: SegmentEvent[] = [];
    if (prob >= this.threshold) {
      this.silenceStart = null;
      this.speechStart ??= start;
    } else if (prob < this.negThreshold && this.speechStart !== null) {
      this.silenceStart ??= start;
      if (end - this.silenceStart >= this.minSilence) {
        this.close(Math.min(this.silenceStart + this.pad, end), events);
        return events;
      }
    }
    if (this.speechStart !== null && this.announcedStart === null && this.speechEnd(end) - this.speechStart >= this.minSpeech) {
      this.announcedStart = Math.max(this.previousEnd, this.speechStart - this.pad);
      this.nextInterimAt = this.announcedStart + this.interimInterval;
      events.push({ kind: 'active', start: this.announcedStart });
    }
    const interim = this.dueInterim(end);
    if (interim) events.push(interim);
    return events;
  }

  /** Forces an endpoint at `now` (finalize, or end of audio): speech in progress is closed there. */
  flush(now: number): SegmentEvent[] {
    const events: SegmentEvent[] = [];
    if (this.speechStart !== null) {
      const end = this.silenceStart !== null ? this.silenceStart + this.pad : now;
      this.close(Math.min(end, now), events);
    }
    this.previousEnd = Math.max(this.previousEnd, now);
    return events;
  }

  /**
   * The interim due with audio analysed up to `now`, if any: it ends on the latest grid point
   * (announced start + k × interval) reached that is surely inside the segment. In a pause that is
   * up to the pause's start + pad (where the segment ends if the pause does); a point past it waits
   * for speech to resume, and is dropped if the pause ends the segment.
   */
  private dueInterim(now: number): SegmentEvent | null {
    if (this.announcedStart === null || this.interimInterval === 0) return null;
    const sure = this.silenceStart === null ? now : Math.min(now, this.silenceStart + this.pad);
    if (sure < this.nextInterimAt) return null;
    // Grid points passed together (a pause, or min_speech longer than the interval): the latest only.
    const due = this.nextInterimAt + Math.floor((sure - this.nextInterimAt) / this.interimInterval) * this.interimInterval;
    this.nextInterimAt = due + this.interimInterval;
    return { kind: 'interim', start: this.announcedStart, end: due };
  }

  private speechEnd(now: number): number {
    return this.silenceStart ?? now;
  }

  private close(paddedEnd: number, events: SegmentEvent[]): void {
    const speechStart = this.speechStart as number;
    const unpaddedEnd = this.silenceStart ?? paddedEnd;
    const announced = this.announcedStart;
    const long = unpaddedEnd - speechStart >= this.minSpeech;
    if (announced !== null || long) {
      const start = announced ?? Math.max(this.previousEnd, speechStart - this.pad);
      if (announced === null) events.push({ kind: 'active', start });
      events.push({ kind: 'final', start, end: paddedEnd });
      this.previousEnd = paddedEnd;
    }
    this.speechStart = null;
    this.silenceStart = null;
    this.announcedStart = null;
  }
}

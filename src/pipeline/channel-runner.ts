// What the stream fan-out drives for each channel, whatever the route's processing.

/** Audio of this channel not yet through a stage, in seconds. */
export interface ChannelBacklog {
  vad?: number;
  model: number;
}

export interface ChannelRunner {
  /**
   * 16 kHz audio of this channel, in order. Never blocks: processing happens asynchronously.
   * `samples` may be a view of a buffer reused once this returns: keep a copy, not the array.
   */
  push(samples: Float32Array): void;
  /** Forces an endpoint now (`at`: when it was asked for); resolves once its results were sent. */
  finalize(at: number): Promise<void>;
  /** End of audio (`at`: when the stop arrived); resolves once every result was sent. */
  end(at: number): Promise<void>;
  /** The client went away: stop work, send nothing more. */
  abort(): void;
  backlog(): ChannelBacklog;
  /** Segmented route: whether the VAD is inside a speech segment (announced, not yet closed). */
  speaking?(): boolean;
  /** Earliest sample index at which a result of this channel can still end. */
  openFrom(): number;
}

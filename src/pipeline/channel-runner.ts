// What the stream fan-out drives for each channel, whatever the route's processing.
export interface ChannelRunner {
  /** 16 kHz audio of this channel, in order. Never blocks: processing happens asynchronously. */
  push(samples: Float32Array): void;
  /** Forces an endpoint now; resolves once the results it caused were sent. */
  finalize(): Promise<void>;
  /** End of audio; resolves once every result of this channel was sent. */
  end(): Promise<void>;
  /** The client went away: stop work, send nothing more. */
  abort(): void;
}

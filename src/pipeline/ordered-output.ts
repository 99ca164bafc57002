// Sends a channel's events in the order they were produced, even when the model results they
// wait for complete out of order (several inferences of one channel may run at once).
import type { ChannelEvent, Send } from './events.ts';

export class OrderedOutput {
  private tail: Promise<void> = Promise.resolve();
  private aborted = false;

  private readonly send: Send;
  constructor(send: Send) {
    this.send = send;
  }

  /**
   * Queues an event, or a promise of one, behind everything queued before it. `onSent` runs right
   * after it went out (latency is measured to that moment).
   */
  enqueue(event: ChannelEvent | Promise<ChannelEvent>, onSent?: (sent: ChannelEvent) => void): void {
    const pending = Promise.resolve(event);
    this.tail = this.tail.then(async () => {
      const ready = await pending;
      if (this.aborted) return;
      this.send(ready);
      onSent?.(ready);
    });
  }

  /** Resolves once everything queued so far has been sent (or dropped by abort). */
  drained(): Promise<void> {
    return this.tail;
  }

  /** Drops whatever has not been sent yet (the client went away). */
  abort(): void {
    this.aborted = true;
  }
}

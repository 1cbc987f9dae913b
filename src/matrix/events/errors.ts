// The one error matrix/events throws for an event that is not well formed.

export class EventFormatError extends Error {
  /** One sentence naming the field and what is wrong with it. */
  readonly reason: string;
  /**
   * True when Synapse would keep the event as rejected rather than drop it
   * (a field over 255 bytes but within 255 code points, room versions 1 to
   * 10): dropping it would leave a hole in the room's graph.
   */
  readonly persistAsRejected: boolean;
  constructor(reason: string, opts: { persistAsRejected?: boolean } = {}) {
    super(reason);
    this.name = 'EventFormatError';
    this.reason = reason;
    this.persistAsRejected = opts.persistAsRejected ?? false;
  }
}

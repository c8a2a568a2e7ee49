/**
 * Which offset of one partition may be committed. Kafka's committed offset means "everything before this is done",
 * so it may only move up to the lowest offset still in flight: with offsets 5, 6, 7 taken and 6 and 7 settled, it
 * stays at 5 until 5 settles, and a restart redelivers 5, 6 and 7 (a duplicate is possible; a loss is not).
 */
export class PartitionOffsets {
  readonly #inFlight = new Set<bigint>();
  /** One past the highest settled offset. */
  #next: bigint | undefined;
  #committed: bigint | undefined;

  /** A record was handed to the flow. */
  begin(offset: bigint): void {
    this.#inFlight.add(offset);
  }

  /** The flow settled it (delivered, or parked in the dead-letter topic). */
  settle(offset: bigint): void {
    this.#inFlight.delete(offset);
    if (this.#next === undefined || offset + 1n > this.#next) this.#next = offset + 1n;
  }

  /** It will be delivered again (a retryable failure): no longer in flight, not settled either. */
  release(offset: bigint): void {
    this.#inFlight.delete(offset);
    if (this.#next === undefined || offset < this.#next) this.#next = offset;
  }

  /**
   * Pipelined records from `offset` on go back to the broker: the partition is fetched again from `offset`, so
   * those still in flight are forgotten and whatever settled at or after it is no longer counted. Call it only
   * once none of them can settle any more.
   */
  rewind(offset: bigint): void {
    for (const o of this.#inFlight) if (o >= offset) this.#inFlight.delete(o);
    if (this.#next === undefined || offset < this.#next) this.#next = offset;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** The offset to commit now: the lowest one in flight, or one past the highest settled. */
  committable(): bigint | undefined {
    let lowest: bigint | undefined;
    for (const o of this.#inFlight) if (lowest === undefined || o < lowest) lowest = o;
    return lowest ?? this.#next;
  }

  /** The offset to commit when it moved since the last commit. */
  pending(): bigint | undefined {
    const c = this.committable();
    return c !== undefined && (this.#committed === undefined || c > this.#committed) ? c : undefined;
  }

  committed(offset: bigint): void {
    if (this.#committed === undefined || offset > this.#committed) this.#committed = offset;
  }
}

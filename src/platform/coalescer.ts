/**
 * Groups concurrent requests into bulk calls (DESIGN.md, "Performance and telemetry"). Two
 * users: SpiceDB checks (SpiceDB answers ~1,200 single checks per second but ~12,700 per
 * second in bulks of 64, so concurrent reads share one CheckBulkPermissions call) and the read
 * path's lookup of a bearer's key with the secret's row (one statement for every read queued,
 * instead of one statement, one socket write and one server round of work each). Grouping
 * never merges decisions: every caller gets the outcome of its own item, and an item's error
 * fails only that caller.
 *
 * Requests are queued per key (for checks, the consistency they ask for, since a bulk call
 * carries one). No timer: as the audit appender does, a key with no call in flight sends what
 * it holds at once (after the current turn, so requests made in the same turn share the
 * call); requests that arrive while a call is in flight wait for it and go together in the
 * next one; a queue that reaches `maxBatch` goes at once whatever is in flight. A lone request
 * therefore never waits, and under load batches grow by themselves with the length of a call.
 * (Until issue 18, a queue of checks was flushed a fixed 5 ms after its first item: every
 * check paid those 5 ms.)
 *
 * A request is never answered by a call that started before it was submitted: it joins only
 * a call not yet sent. So a caller that submits after a change was committed gets an answer
 * at least as fresh as that change, which is what the read path's revocation needs.
 */
import type { Span } from "@opentelemetry/api";
import { activeSpan } from "./telemetry.ts";

/** One item's outcome inside a bulk answer. */
export type ItemOutcome<R> = { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: unknown };

/**
 * Runs one bulk call. Must return one outcome per request, in order; a rejection fails every
 * request of the batch.
 */
export type BulkRunner<Q, R> = (key: string, requests: readonly Q[]) => Promise<readonly ItemOutcome<R>[]>;

interface Pending<Q, R> {
  readonly request: Q;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
  /** The caller's recording span, told the size of the batch it joined and how long it queued. */
  readonly span: Span | undefined;
  readonly queuedAt: number;
}

interface KeyState<Q, R> {
  queue: Pending<Q, R>[];
  /** Bulk calls of this key not yet answered. */
  inFlight: number;
  /** A send is already due after the current turn. */
  due: boolean;
}

export interface CoalescerOptions {
  /** The most requests one bulk call carries. */
  readonly maxBatch: number;
  /** Turned into a rejection for each caller when a bulk answer does not match its batch. */
  readonly malformed: () => unknown;
  /** Told the size of every batch sent (metrics, tests). */
  readonly onBatch?: (key: string, size: number) => void;
  /**
   * The caller's span is given `<prefix>.batch_size` and `<prefix>.queued_ms`
   * (default `custos.authz`, the checks' names).
   */
  readonly spanAttributePrefix?: string;
}

export class Coalescer<Q, R> {
  private readonly keys = new Map<string, KeyState<Q, R>>();
  private readonly spanAttributePrefix: string;

  constructor(private readonly run: BulkRunner<Q, R>, private readonly options: CoalescerOptions) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new RangeError("maxBatch must be a positive integer");
    this.spanAttributePrefix = options.spanAttributePrefix ?? "custos.authz";
  }

  submit(key: string, request: Q): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const state = this.keys.get(key) ?? { queue: [], inFlight: 0, due: false };
      this.keys.set(key, state);
      const span = activeSpan();
      state.queue.push({ request, resolve, reject, span, queuedAt: span === undefined ? 0 : performance.now() });
      if (state.queue.length >= this.options.maxBatch) {
        // A full batch goes now, beside whatever is in flight (its call starts in a microtask).
        this.send(key, state);
      } else if (state.inFlight === 0 && !state.due) {
        // A microtask, not a timer and not a direct call: submit never performs I/O in its
        // caller's stack, and requests made in this same turn join the call.
        state.due = true;
        queueMicrotask(() => {
          state.due = false;
          if (state.inFlight === 0) this.send(key, state);
        });
      }
    });
  }

  /** Requests queued and not yet dispatched (for tests and metrics). */
  get queued(): number {
    let total = 0;
    for (const state of this.keys.values()) total += state.queue.length;
    return total;
  }

  /** Fails everything still queued, e.g. at shutdown. */
  failQueued(error: unknown): void {
    for (const state of this.keys.values()) {
      for (const pending of state.queue) pending.reject(error);
      state.queue = [];
    }
  }

  /** Sends up to maxBatch queued requests as one call; when it is answered, sends what queued meanwhile. */
  private send(key: string, state: KeyState<Q, R>): void {
    const batch = state.queue.slice(0, this.options.maxBatch);
    state.queue = state.queue.slice(batch.length);
    if (batch.length === 0) {
      if (state.inFlight === 0 && !state.due && this.keys.get(key) === state) this.keys.delete(key);
      return;
    }
    state.inFlight += 1;
    this.options.onBatch?.(key, batch.length);
    const sentAt = performance.now();
    for (const pending of batch) {
      pending.span?.setAttributes({ [`${this.spanAttributePrefix}.batch_size`]: batch.length, [`${this.spanAttributePrefix}.queued_ms`]: sentAt - pending.queuedAt });
    }
    // Started in a microtask, never in submit's caller's stack; a synchronous throw from
    // run() becomes a rejection as well.
    const answer = Promise.resolve().then(() => this.run(key, batch.map((pending) => pending.request)));
    answer.then(
      (outcomes) => { this.settle(batch, outcomes); },
      (error: unknown) => { for (const pending of batch) pending.reject(error); },
    ).finally(() => {
      state.inFlight -= 1;
      if (state.inFlight === 0) this.send(key, state);
    });
  }

  private settle(batch: readonly Pending<Q, R>[], outcomes: readonly ItemOutcome<R>[]): void {
    if (outcomes.length !== batch.length) {
      for (const pending of batch) pending.reject(this.options.malformed());
      return;
    }
    batch.forEach((pending, index) => {
      const outcome = outcomes[index];
      if (outcome === undefined) pending.reject(this.options.malformed());
      else if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }
}

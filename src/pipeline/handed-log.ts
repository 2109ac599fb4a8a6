// The seqs a host's pipeline has handed on above its watermark, as each item's cursor names them (core/events.ts
// HostCursor). Every item carries a cursor, but the sequencer writes only a batch's newest one per host: listing the
// seqs for every item cost an array of every out-of-order seq per event (~1.4 kB an event in an ingest burst, the
// main thread's fourth allocation site). So a cursor is a snapshot of this log, and its seqs are listed only when
// read.
import type { HostCursor } from '../core/events.ts';

/**
 * Events handed on in hand-on order, each with its ordinal in the host's upstream order. The arrays are only ever
 * appended to; compaction makes new ones, so a snapshot's prefix of the old ones never changes.
 */
export class HandedLog {
  private seqs: number[] = [];
  private ordinals: number[] = [];
  /** Entries whose ordinal is below this are under the watermark: no later snapshot lists them. */
  private floor = 0;
  private live = 0;

  /** The event with upstream ordinal `ordinal` (and seq `seq`) was handed on. */
  handed(ordinal: number, seq: number): void {
    this.seqs.push(seq);
    this.ordinals.push(ordinal);
    this.live++;
  }

  /**
   * The watermark passed every event below ordinal `floor` (each one handed on, or it would not have passed): they
   * leave the log once it is mostly them.
   */
  passed(floor: number): void {
    this.live -= floor - this.floor;
    this.floor = floor;
    if (this.seqs.length > 1024 && this.live * 2 < this.seqs.length) {
      const seqs: number[] = [];
      const ordinals: number[] = [];
      for (let i = 0; i < this.seqs.length; i++) {
        if (this.ordinals[i]! < floor) continue;
        seqs.push(this.seqs[i]!);
        ordinals.push(this.ordinals[i]!);
      }
      this.seqs = seqs;
      this.ordinals = ordinals;
    }
  }

  /**
   * The cursor as it stands now: every seq up to `at`, the events handed on above the watermark (in upstream
   * order), and `skip` (seqs an earlier crawl committed that have not come again; copied, as it changes). `above`
   * is listed when first read.
   */
  cursor(at: number, skip: ReadonlySet<number>): HostCursor {
    const { seqs, ordinals, floor } = this;
    const length = seqs.length;
    const skipped = skip.size === 0 ? null : [...skip];
    let listed: readonly number[] | null = null;
    return {
      at,
      get above(): readonly number[] {
        if (listed) return listed;
        const handed: Array<[ordinal: number, seq: number]> = [];
        for (let i = 0; i < length; i++) if (ordinals[i]! >= floor) handed.push([ordinals[i]!, seqs[i]!]);
        const inOrder = handed.sort((a, b) => a[0] - b[0]).map(([, seq]) => seq);
        listed = skipped ? inOrder.concat(skipped).sort((a, b) => a - b) : inOrder;
        return listed;
      },
    };
  }
}

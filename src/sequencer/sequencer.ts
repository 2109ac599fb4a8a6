// Assigns the relay's global seq and persists accepted events, together with the upstream cursors they cover, in
// one transaction per batch. Only after commit are frames handed to fan-out, so nothing is broadcast that a crash
// could take back and no seq is ever reused.
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { encodeWithSeq, receivedSize } from '../protocol/frame.ts';
import type { Db } from '../storage/db.ts';
import { accounts, events, hosts, relaySeq } from '../storage/schema.ts';
import type { CommittedEvent, SequencerItem } from './types.ts';
import type { RelayMetrics } from '../metrics.ts';

export const EVENTS_CHANNEL = 'relay_events';
/** Frame bytes one batch transaction carries at most (at least one event goes in, whatever its size). */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

export interface SequencerOptions {
  db: Db;
  log: Logger;
  metrics: RelayMetrics;
  maxDelayMs: number;
  maxBatch: number;
  /** Default MAX_BATCH_BYTES. */
  maxBatchBytes?: number;
  /** Called after each commit, in seq order. */
  onCommitted: (events: CommittedEvent[], items: SequencerItem[]) => void;
}

export class Sequencer {
  private pending: SequencerItem[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly pendingByHost = new Map<number, number>();
  private stopped = false;
  private failures = 0;

  private readonly opts: SequencerOptions;
  constructor(opts: SequencerOptions) {
    this.opts = opts;
  }

  submit(item: SequencerItem): void {
    if (this.stopped) throw new Error('sequencer stopped');
    this.pending.push(item);
    this.pendingByHost.set(item.hostId, (this.pendingByHost.get(item.hostId) ?? 0) + 1);
    if (this.pending.length >= this.opts.maxBatch) this.kick(0);
    else this.kick(this.opts.maxDelayMs);
  }

  /** Items of a host not yet committed (for per-host backpressure). */
  pendingFor(hostId: number): number {
    return this.pendingByHost.get(hostId) ?? 0;
  }

  get backlog(): number {
    return this.pending.length;
  }

  /** Commits everything submitted so far. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.flushNow();
    }
  }

  async stop(): Promise<void> {
    await this.drain();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private kick(delay: number): void {
    if (this.flushing) return; // the running flush re-kicks when it finishes
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flushNow();
    }, delay);
  }

  private flushNow(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.length === 0) return Promise.resolve();
    const batch = this.nextBatch();
    this.flushing = this.write(batch)
      .then((committed) => {
        this.pending.splice(0, batch.length);
        for (const item of batch) {
          const left = (this.pendingByHost.get(item.hostId) ?? 1) - 1;
          if (left === 0) this.pendingByHost.delete(item.hostId);
          else this.pendingByHost.set(item.hostId, left);
        }
        this.failures = 0;
        this.opts.onCommitted(committed, batch);
      })
      .catch((err: unknown) => {
        // Nothing of the batch is committed; keep it (in order) and retry. Hosts pause while the backlog grows.
        this.failures++;
        this.opts.metrics.sequencerFailures.inc();
        this.opts.log.error({ err, attempt: this.failures }, 'sequencer batch failed; retrying');
        return new Promise<void>((r) => setTimeout(r, Math.min(5000, 50 * 2 ** this.failures)));
      })
      .finally(() => {
        this.flushing = null;
        if (this.pending.length > 0 && !this.stopped) this.kick(this.pending.length >= this.opts.maxBatch ? 0 : this.opts.maxDelayMs);
      });
    return this.flushing;
  }

  /** The oldest pending items, up to maxBatch of them and maxBatchBytes of received bodies (a #commit may be MBs). */
  private nextBatch(): SequencerItem[] {
    const maxBytes = this.opts.maxBatchBytes ?? MAX_BATCH_BYTES;
    let bytes = 0;
    let n = 0;
    while (n < this.pending.length && n < this.opts.maxBatch) {
      const event = this.pending[n]!.event;
      bytes += event ? receivedSize(event.body) : 0;
      if (n > 0 && bytes > maxBytes) break;
      n++;
    }
    return this.pending.slice(0, n);
  }

  private async write(batch: SequencerItem[]): Promise<CommittedEvent[]> {
    const started = performance.now();
    const accepted = batch.filter((i) => i.event !== null);
    const committed: CommittedEvent[] = [];
    await this.opts.db.transaction(async (tx) => {
      if (accepted.length > 0) {
        // The row lock taken here is held to commit: concurrent writers (other processes) queue behind it.
        const [row] = await tx
          .update(relaySeq)
          .set({ seq: sql`${relaySeq.seq} + ${accepted.length}` })
          .where(sql`${relaySeq.id} = 1`)
          .returning({ seq: relaySeq.seq });
        let seq = row!.seq - accepted.length;
        const rows = [];
        for (const item of accepted) {
          const ev = item.event!;
          seq++;
          const frame = encodeWithSeq(`#${ev.kind}`, ev.body, seq);
          committed.push({ seq, did: ev.did, kind: ev.kind, frame });
          rows.push({ seq, did: ev.did, kind: ev.kind, frame, hostId: item.hostId, upstreamSeq: item.upstreamSeq });
        }
        // One parameter per column (arrays unnested by PostgreSQL): drizzle's insert builder spent ~200 ms
        // building a 500-row, 3,000-parameter statement on the event loop, this takes ~1 ms (bench/RESULTS.md).
        // The frames go as one binary parameter cut by offsets: node-postgres sends a Buffer as it is, but writes
        // a bytea[] as hex inside an array literal (twice the bytes, a hex pass on each side, large strings to
        // collect).
        const frames = Buffer.concat(rows.map((r) => r.frame));
        const starts: number[] = [];
        let at = 1;
        for (const r of rows) {
          starts.push(at);
          at += r.frame.length;
        }
        await tx.execute(sql`
          INSERT INTO ${events} (seq, did, kind, frame, host_id, upstream_seq)
          SELECT r.seq, r.did, r.kind, substring(${frames}::bytea from r.start for r.length), r.host_id, r.upstream_seq
          FROM unnest(
            ${sql.param(rows.map((r) => r.seq))}::bigint[], ${sql.param(rows.map((r) => r.did))}::text[],
            ${sql.param(rows.map((r) => r.kind))}::text[], ${sql.param(starts)}::integer[],
            ${sql.param(rows.map((r) => r.frame.length))}::integer[],
            ${sql.param(rows.map((r) => r.hostId))}::integer[], ${sql.param(rows.map((r) => r.upstreamSeq))}::bigint[])
            AS r(seq, did, kind, start, length, host_id, upstream_seq)`);
        await this.writeAccounts(tx, batch);
      }
      await this.writeThrottles(tx, batch);
      await this.writeCursors(tx, batch);
      if (committed.length > 0) {
        await tx.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${String(committed.at(-1)!.seq)})`);
      }
    });
    this.opts.metrics.sequencerBatchSeconds.observe((performance.now() - started) / 1000);
    this.opts.metrics.sequencerBatchSize.observe(batch.length);
    return committed;
  }

  private async writeCursors(tx: Db, batch: SequencerItem[]): Promise<void> {
    const cursors = new Map<number, { cursor: number; accepted: boolean }>();
    for (const item of batch) {
      if (item.upstreamSeq === null) continue;
      const prev = cursors.get(item.hostId);
      cursors.set(item.hostId, {
        cursor: Math.max(prev?.cursor ?? 0, item.upstreamSeq),
        accepted: (prev?.accepted ?? false) || item.event !== null,
      });
    }
    if (cursors.size === 0) return;
    // One statement for every host in the batch: with many active hosts, a round trip per host inside the
    // transaction held the seq row lock that much longer (bench/RESULTS.md, hosts).
    const rows = [...cursors].map(([hostId, { cursor, accepted }]) => sql`(${hostId}::integer, ${cursor}::bigint, ${accepted}::boolean)`);
    await tx.execute(sql`
      UPDATE ${hosts} SET
        cursor = v.cursor,
        last_event_at = CASE WHEN v.accepted THEN now() ELSE ${hosts}.last_event_at END,
        updated_at = now()
      FROM (VALUES ${sql.join(rows, sql`, `)}) AS v(id, cursor, accepted)
      WHERE ${hosts}.id = v.id`);
  }

  /** Throttle changes go last: they describe the account after the batch's events (last change wins). */
  private async writeThrottles(tx: Db, batch: SequencerItem[]): Promise<void> {
    const changes = new Map<string, { hostId: number; change: NonNullable<SequencerItem['throttle']> }>();
    for (const item of batch) if (item.throttle) changes.set(item.throttle.did, { hostId: item.hostId, change: item.throttle });
    for (const [did, { hostId, change }] of changes) {
      const set = {
        throttled: change.throttled,
        throttledUntil: change.throttledUntil === null ? null : new Date(change.throttledUntil),
        ...(change.heldCommit !== undefined ? { heldCommit: change.heldCommit } : {}),
        ...(change.repo ?? {}),
        hostId,
      };
      await tx
        .insert(accounts)
        .values({ did, ...set })
        .onConflictDoUpdate({ target: accounts.did, set: { ...set, updatedAt: sql`now()` } });
    }
  }

  private async writeAccounts(tx: Db, batch: SequencerItem[]): Promise<void> {
    // Last write wins within a batch; items are in upstream order.
    const repo = new Map<string, { hostId: number; rev: string; head: string; data: string }>();
    const status = new Map<string, { hostId: number; active: boolean; status: string | null }>();
    for (const item of batch) {
      const ev = item.event;
      if (!ev) continue;
      if (ev.repo) repo.set(ev.did, { hostId: item.hostId, ...ev.repo });
      if (ev.status) status.set(ev.did, { hostId: item.hostId, ...ev.status });
    }
    if (repo.size > 0) {
      // Same one-parameter-per-column form as the events insert, for the same reason.
      const list = [...repo];
      await tx.execute(sql`
        INSERT INTO ${accounts} (did, host_id, rev, head, data)
        SELECT * FROM unnest(
          ${sql.param(list.map(([did]) => did))}::text[], ${sql.param(list.map(([, r]) => r.hostId))}::integer[],
          ${sql.param(list.map(([, r]) => r.rev))}::text[], ${sql.param(list.map(([, r]) => r.head))}::text[],
          ${sql.param(list.map(([, r]) => r.data))}::text[])
        ON CONFLICT (did) DO UPDATE SET
          rev = excluded.rev, head = excluded.head, data = excluded.data, host_id = excluded.host_id, updated_at = now()`);
    }
    if (status.size > 0) {
      await tx
        .insert(accounts)
        .values(
          [...status].map(([did, s]) => ({
            did,
            hostId: s.hostId,
            upstreamActive: s.active,
            upstreamStatus: s.status,
          })),
        )
        .onConflictDoUpdate({
          target: accounts.did,
          set: {
            upstreamActive: sql`excluded.upstream_active`,
            upstreamStatus: sql`excluded.upstream_status`,
            hostId: sql`excluded.host_id`,
            updatedAt: sql`now()`,
          },
        });
    }
  }
}

// The event log: the sequencer's batch transaction (its only writer), and the reads of fan-out, replay and retention.
import { and, asc, eq, gt, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { accounts, events, hosts, relaySeq } from './schema.ts';
import { writeAccountChanges } from './accounts.ts';
import type { CommittedEvent, EventKind, HostCursor } from '../core/events.ts';
import type { AccountChange } from '../core/accounts.ts';

export const EVENTS_CHANNEL = 'relay_events';

export interface BatchEvent {
  did: string;
  kind: EventKind;
  hostId: number;
  upstreamSeq: number | null;
  /** The frame under the seq the batch assigns (built inside the transaction, once the seq is known). */
  frame: (seq: number) => Uint8Array;
}

/** Everything one batch commits at once. */
export interface Batch {
  events: BatchEvent[];
  /** Per host: where its stream is committed to, and whether the batch accepted any event of the host. */
  cursors: Map<number, { cursor: HostCursor; accepted: boolean }>;
  /** Per account: its change after the batch. */
  accounts: Map<string, AccountChange>;
}

/**
 * Commits a batch in one transaction: the next seqs, the frames under them, the account changes and the host
 * cursors they cover, and a NOTIFY for other processes' fan-out. The seq row's lock, taken first and held to commit,
 * makes concurrent writers (other processes) queue: seqs are gapless and commit in seq order. `attempt` learns the
 * seqs and frames before COMMIT, so a caller that sees the COMMIT fail can ask whether it went through anyway.
 */
export async function commitBatch(db: Db, batch: Batch, attempt: (committed: CommittedEvent[]) => void = () => {}): Promise<CommittedEvent[]> {
  const committed: CommittedEvent[] = [];
  await db.transaction(async (tx) => {
    if (batch.events.length > 0) {
      const n = batch.events.length;
      const [row] = await tx
        .update(relaySeq)
        .set({ seq: sql`${relaySeq.seq} + ${n}` })
        .where(sql`${relaySeq.id} = 1`)
        .returning({ seq: relaySeq.seq });
      let seq = row!.seq - n;
      for (const ev of batch.events) {
        seq++;
        committed.push({ seq, did: ev.did, kind: ev.kind, frame: ev.frame(seq) });
      }
      await insertEvents(tx, batch.events, committed);
    }
    await writeAccountChanges(tx, batch.accounts);
    await writeCursors(tx, batch.cursors);
    if (committed.length > 0) await tx.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${String(committed.at(-1)!.seq)})`);
    attempt(committed);
  });
  return committed;
}

/**
 * One parameter per column (arrays unnested by PostgreSQL): drizzle's insert builder spent ~200 ms building a
 * 500-row, 3,000-parameter statement on the event loop, this takes ~1 ms (docs/perf-journal.md). The frames go as one
 * binary parameter cut by offsets: node-postgres sends a Buffer as it is, but writes a bytea[] as hex inside an array
 * literal (twice the bytes, a hex pass on each side, large strings to collect).
 */
async function insertEvents(tx: Db, rows: BatchEvent[], committed: CommittedEvent[]): Promise<void> {
  const frames = Buffer.concat(committed.map((c) => c.frame));
  const starts: number[] = [];
  let at = 1;
  for (const c of committed) {
    starts.push(at);
    at += c.frame.length;
  }
  await tx.execute(sql`
    INSERT INTO ${events} (seq, did, kind, frame, host_id, upstream_seq)
    SELECT r.seq, r.did, r.kind, substring(${frames}::bytea from r.start for r.length), r.host_id, r.upstream_seq
    FROM unnest(
      ${sql.param(committed.map((c) => c.seq))}::bigint[], ${sql.param(rows.map((r) => r.did))}::text[],
      ${sql.param(rows.map((r) => r.kind))}::text[], ${sql.param(starts)}::integer[],
      ${sql.param(committed.map((c) => c.frame.length))}::integer[],
      ${sql.param(rows.map((r) => r.hostId))}::integer[], ${sql.param(rows.map((r) => r.upstreamSeq))}::bigint[])
      AS r(seq, did, kind, start, length, host_id, upstream_seq)`);
}

/**
 * One statement for every host in the batch: with many active hosts, a round trip per host inside the transaction
 * held the seq row lock that much longer (docs/perf-journal.md, hosts).
 */
async function writeCursors(tx: Db, cursors: Batch['cursors']): Promise<void> {
  if (cursors.size === 0) return;
  const rows = [...cursors].map(
    ([hostId, { cursor, accepted }]) => sql`(${hostId}::integer, ${cursor.at}::bigint, ${sql.param([...cursor.above])}::bigint[], ${accepted}::boolean)`,
  );
  await tx.execute(sql`
    UPDATE ${hosts} SET
      cursor = v.cursor,
      cursor_above = v.above,
      last_event_at = CASE WHEN v.accepted THEN now() ELSE ${hosts}.last_event_at END,
      updated_at = now()
    FROM (VALUES ${sql.join(rows, sql`, `)}) AS v(id, cursor, above, accepted)
    WHERE ${hosts}.id = v.id`);
}

/** The frame stored under `seq`, or null (not committed, or pruned). */
export async function frameAt(db: Db, seq: number): Promise<Uint8Array | null> {
  const [row] = await db.select({ frame: events.frame }).from(events).where(eq(events.seq, seq));
  return row?.frame ?? null;
}

export async function readEvents(db: Db, afterSeq: number, upToSeq: number, limit: number): Promise<CommittedEvent[]> {
  const rows = await db
    .select({ seq: events.seq, did: events.did, kind: events.kind, frame: events.frame })
    .from(events)
    .where(
      and(
        gt(events.seq, afterSeq),
        lte(events.seq, upToSeq),
        // An account an operator took down has its repo events withheld; its #identity and #account still flow.
        sql`NOT (${events.kind} IN ('commit', 'sync') AND EXISTS (
          SELECT 1 FROM ${accounts} WHERE ${accounts.did} = ${events.did} AND ${accounts.localStatus} IS NOT NULL))`,
      ),
    )
    .orderBy(asc(events.seq))
    .limit(limit);
  return rows.map((r) => ({ seq: r.seq, did: r.did, kind: r.kind as EventKind, frame: r.frame }));
}

/** The last seq committed by any relay process. */
export async function committedSeq(db: Db): Promise<number> {
  const [row] = await db.select({ seq: relaySeq.seq }).from(relaySeq).where(sql`${relaySeq.id} = 1`);
  return row?.seq ?? 0;
}

/** Oldest seq still in the replay window, or null when the window is empty. */
export async function oldestRetainedSeq(db: Db): Promise<number | null> {
  const [row] = await db.select({ seq: sql<number | null>`min(${events.seq})`.mapWith(Number) }).from(events);
  return row?.seq ?? null;
}

/** Deletes the oldest events up to and including `lastSeq`, a bounded chunk at a time. */
export async function pruneEventsThrough(db: Db, lastSeq: number, chunk = 5000): Promise<number> {
  return deleteInChunks(db, sql`${events.seq} <= ${lastSeq}`, chunk);
}

/**
 * The seq through which to prune so the frames kept fit in `maxBytes`, or null when they already fit. Frame bytes
 * are estimated from the newest frames' average size times the number of retained events (seqs are gapless and
 * pruning removes the oldest), so the check costs two index lookups and one bounded scan however large the window.
 */
export async function sizePruneCutoff(db: Db, maxBytes: number, sample = 10_000): Promise<number | null> {
  const [range] = await db
    .select({ oldest: sql<number | null>`min(${events.seq})`.mapWith(Number), newest: sql<number | null>`max(${events.seq})`.mapWith(Number) })
    .from(events);
  if (!range || range.oldest === null || range.newest === null) return null;
  const res = await db.execute(sql`
    SELECT avg(octet_length(f)) AS avg FROM (SELECT ${events.frame} AS f FROM ${events} ORDER BY ${events.seq} DESC LIMIT ${sample}) t`);
  const avg = Number((res as { rows: Array<{ avg: string | number | null }> }).rows[0]?.avg ?? 0);
  if (!(avg > 0)) return null;
  const keep = Math.floor(maxBytes / avg);
  const cutoff = range.newest - keep;
  return cutoff >= range.oldest ? cutoff : null;
}

/**
 * Deletes events older than the window, a bounded chunk at a time so pruning never holds long locks against ingest.
 * Returns the number of rows removed.
 */
export async function pruneEventsOlderThan(db: Db, cutoff: Date, chunk = 5000): Promise<number> {
  return deleteInChunks(db, sql`${events.createdAt} < ${cutoff.toISOString()}`, chunk);
}

async function deleteInChunks(db: Db, where: SQL, chunk: number): Promise<number> {
  let total = 0;
  for (;;) {
    const res = await db.execute(sql`
      DELETE FROM ${events} WHERE ${events.seq} IN (
        SELECT ${events.seq} FROM ${events} WHERE ${where} ORDER BY ${events.seq} LIMIT ${chunk}
      )`);
    const n = Number((res as { rowCount?: number; affectedRows?: number }).rowCount ?? (res as { affectedRows?: number }).affectedRows ?? 0);
    total += n;
    if (n < chunk) return total;
  }
}

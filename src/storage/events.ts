// Reads of the event log (the sequencer is its only writer).
import { and, asc, gt, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { accounts, events, relaySeq } from './schema.ts';
import type { CommittedEvent, EventKind } from '../sequencer/types.ts';

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

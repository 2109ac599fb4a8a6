// The event log: the sequencer's batch transaction (its only writer), and the reads of fan-out, replay and retention.
import { and, asc, desc, eq, gt, lte, sql, type SQL } from 'drizzle-orm';
import { arrayParam } from './pg-array.ts';
import pg from 'pg';
import { BinaryCopyReader, int8At } from './copy-binary.ts';
import { copyOut } from './copy-out.ts';
import type { Db, Pipeline } from './db.ts';
import { accounts, eventPartitions, events, hostEventCounts, hosts, relaySeq } from './schema.ts';
import { accountChangeWrites, repoStatesUpsert } from './accounts.ts';
import type { Write } from './collections.ts';
import type { CommittedEvent, EventKind, HostCursor } from '../core/events.ts';
import type { AccountChange } from '../core/accounts.ts';
import type { FrameUnderSeq } from '../protocol/frame.ts';

export const EVENTS_CHANNEL = 'relay_events';

export interface BatchEvent {
  did: string;
  kind: EventKind;
  hostId: number;
  upstreamSeq: number | null;
  /** Microseconds the event takes on the time line (events.time_us): its Jetstream messages, at least one. */
  timeSpan: number;
  /** The frame, written under the seq the batch assigns (inside the transaction, once the seq is known). */
  frame: FrameUnderSeq;
}

/** Everything one batch commits at once. */
export interface Batch {
  events: BatchEvent[];
  /** Per host: where its stream is committed to, and whether the batch accepted any event of the host. */
  cursors: Map<number, { cursor: HostCursor; accepted: boolean }>;
  /** Per account: its change after the batch. */
  accounts: Map<string, AccountChange>;
  /** Per host: the batch's events logged and dropped by a check (added to the host's count for this minute). */
  counts: Map<number, HostEventCount>;
}

export interface HostEventCount {
  accepted: number;
  rejected: number;
}

/** How the log is cut into partitions. */
export interface PartitionPolicy {
  /** How long one partition should span at the rate events come in now. */
  spanMs: number;
  /** The replay window's frame-byte cap (0: none): a partition holds at most an eighth of it, so the cap is kept closely. */
  maxBytes: number;
}

/**
 * Makes the log's partitions as the seqs reach them, inside the batch transaction that takes those seqs: under the
 * seq row's lock, so no insert ever finds its partition missing, and two processes never make one twice. Each new
 * partition spans about `spanMs` at the rate the newest one filled.
 */
export class LogPartitioner {
  /** The end of the newest partition as this process last saw it (another process may have made more since). */
  private top = 0;
  private readonly policy: PartitionPolicy;

  constructor(policy: PartitionPolicy) {
    this.policy = policy;
  }

  /**
   * After a batch that did not commit: the partitions it made went with it. Without this, the next batch took them
   * as made, and every insert into them failed, batch after batch.
   */
  forget(): void {
    this.top = 0;
  }

  async cover(tx: Db, last: number, frameBytes: number, frames: number): Promise<void> {
    if (last < this.top) return;
    const [newest] = await tx.select().from(eventPartitions).orderBy(desc(eventPartitions.toSeq)).limit(1);
    let top = newest?.toSeq ?? 1;
    const rate = (last - (newest?.fromSeq ?? 0) + 1) / Math.max(1000, Date.now() - (newest?.createdAt.getTime() ?? Date.now()));
    const bySpan = Math.max(1, Math.ceil(rate * this.policy.spanMs));
    // Under a byte cap a partition holds at most an eighth of it (a batch then makes several); otherwise one partition
    // covers the rest of the batch at least, so a burst makes one large partition, not many small ones.
    const byCap = this.policy.maxBytes > 0 && frames > 0 ? Math.max(1, Math.floor((this.policy.maxBytes * frames) / frameBytes / 8)) : 0;
    while (top <= last) {
      const to = top + (byCap > 0 ? Math.min(bySpan, byCap) : Math.max(bySpan, last - top + 1));
      const name = `events_${top}`;
      await tx.execute(sql`CREATE TABLE ${sql.identifier(name)} PARTITION OF ${events} FOR VALUES FROM (${sql.raw(String(top))}) TO (${sql.raw(String(to))})`);
      await tx.insert(eventPartitions).values({ name, fromSeq: top, toSeq: to });
      top = to;
    }
    this.top = top;
  }
}

/**
 * Commits a batch in one transaction: the next seqs (and the log partition they go to), the frames under them, the
 * account changes and the host cursors they cover, and a NOTIFY for other processes' fan-out. The seq row's lock,
 * taken first and held to commit, makes concurrent writers (other processes) queue: seqs are gapless and commit in
 * seq order. The frames are laid out as `layout` wants them for fan-out, in one buffer that is also the frames'
 * parameter. `attempt` learns the seqs and frames before COMMIT, so a caller that sees the COMMIT fail can ask
 * whether it went through anyway. With a `pipeline` (PostgreSQL) the transaction takes two round trips whatever it
 * holds: BEGIN with the seqs, then every write with the COMMIT, each group sent without waiting for its answers.
 * Under a burst each round trip waited its turn on a busy event loop while the seq row stayed locked: a batch took
 * 120-460 ms in six of them (npm run bench cold, docs/perf-journal.md session 15).
 */
export async function commitBatch(
  db: Db,
  batch: Batch,
  partitions: LogPartitioner,
  layout: FrameLayout,
  attempt: (committed: LaidOutEvents) => void = () => {},
  pipeline: Pipeline | null = null,
): Promise<LaidOutEvents> {
  try {
    if (pipeline) return await commitPipelined(pipeline, batch, partitions, layout, attempt);
    return await commitInTurn(db, batch, partitions, layout, attempt);
  } catch (err) {
    partitions.forget();
    throw err;
  }
}

/** The transaction statement by statement, each waiting for the one before (the embedded engine; no pipeline). */
async function commitInTurn(
  db: Db,
  batch: Batch,
  partitions: LogPartitioner,
  layout: FrameLayout,
  attempt: (committed: LaidOutEvents) => void,
): Promise<LaidOutEvents> {
  let committed = NOTHING_LAID_OUT;
  await db.transaction(async (tx) => {
    if (batch.events.length > 0) {
      const span = timeSpanOf(batch);
      const [row] = await takeSeqs(tx, batch, span);
      committed = await framesUnder(tx, batch, row!, span, partitions, layout);
    }
    for (const write of batchWrites(tx, batch, committed)) await write;
    attempt(committed);
  });
  return committed;
}

async function commitPipelined(
  pipeline: Pipeline,
  batch: Batch,
  partitions: LogPartitioner,
  layout: FrameLayout,
  attempt: (committed: LaidOutEvents) => void,
): Promise<LaidOutEvents> {
  const { db: tx, release } = await pipeline.checkout();
  try {
    const begin = tx.execute(sql`BEGIN`);
    let committed = NOTHING_LAID_OUT;
    if (batch.events.length > 0) {
      const span = timeSpanOf(batch);
      const [, [row]] = await Promise.all([begin, takeSeqs(tx, batch, span)]);
      committed = await framesUnder(tx, batch, row!, span, partitions, layout);
    } else {
      await begin;
    }
    const writes = Promise.all(batchWrites(tx, batch, committed));
    attempt(committed);
    // A write that fails aborts the transaction, and this COMMIT then rolls it back.
    await Promise.all([writes, tx.execute(sql`COMMIT`)]);
    release();
    return committed;
  } catch (err) {
    // Possibly mid-transaction: the connection is closed, not reused (the server rolls back what it holds).
    release(err as Error);
    throw err;
  }
}

/** Microseconds the batch's events take on the time line together. */
function timeSpanOf(batch: Batch): number {
  let span = 0;
  for (const ev of batch.events) span += ev.timeSpan;
  return span;
}

/**
 * The batch's seqs and its `span` of the time line, taken under the seq row's lock. Times come from PostgreSQL's
 * clock (one clock for every process) and never go back: a clock that steps back leaves the time line where it
 * was, moving one microsecond a step.
 */
function takeSeqs(tx: Db, batch: Batch, span: number) {
  return tx
    .update(relaySeq)
    .set({
      seq: sql`${relaySeq.seq} + ${batch.events.length}`,
      timeUs: sql`GREATEST(${relaySeq.timeUs}, floor(extract(epoch from clock_timestamp()) * 1000000)::bigint) + ${span}`,
    })
    .where(sql`${relaySeq.id} = 1`)
    .returning({ seq: relaySeq.seq, timeUs: relaySeq.timeUs });
}

/**
 * The batch's events under the seqs and `span` taken (ending at `top`), laid out, with the partitions they go to
 * made. Each frame is written once, into a buffer sized for all of them.
 */
async function framesUnder(
  tx: Db,
  batch: Batch,
  top: { seq: number; timeUs: number },
  span: number,
  partitions: LogPartitioner,
  layout: FrameLayout,
): Promise<LaidOutEvents> {
  const first = top.seq - batch.events.length + 1;
  let bytes = 0;
  let laidBytes = 0;
  for (let i = 0; i < batch.events.length; i++) {
    const size = batch.events[i]!.frame.size(first + i);
    bytes += size;
    laidBytes += layout.headerLength(size) + size;
  }
  const out = new EventLayout(layout, laidBytes);
  let timeUs = top.timeUs - span;
  for (let i = 0; i < batch.events.length; i++) {
    const ev = batch.events[i]!;
    timeUs += ev.timeSpan;
    out.addFrame(first + i, ev.did, ev.kind, timeUs, ev.frame);
  }
  await partitions.cover(tx, top.seq, bytes, batch.events.length);
  return out.done();
}

/**
 * The batch's writes, in order. The frames, the repo states, the host cursors and the hosts' counts go in one
 * statement (they touch different tables, so its parts cannot see or undo each other); the account changes that
 * need the repo rows written come after. The frames are the statement's last parameter: node-postgres grows its
 * message buffer by half again for each parameter that does not fit, copying what it holds, so every parameter
 * after the frames (megabytes) copied them once more into fresh memory.
 */
function batchWrites(tx: Db, batch: Batch, committed: LaidOutEvents): Write[] {
  const parts = [
    repoStatesUpsert(batch.accounts),
    countsUpsert(batch.counts),
    cursorsUpdate(batch.cursors),
    committed.events.length > 0 ? eventsInsert(batch.events, committed) : null,
  ].filter((p): p is SQL => p !== null);
  // Written into the statement, after the frames: the channel is a constant and the seq an integer.
  const notify = committed.events.length > 0 ? sql.raw(`SELECT pg_notify('${EVENTS_CHANNEL}', '${Math.trunc(committed.events.at(-1)!.seq)}')`) : null;
  const writes: Write[] = [];
  if (parts.length > 0) {
    const ctes = sql.join(parts.map((p, i) => sql`${sql.raw(`w${i}`)} AS (${p})`), sql`, `);
    writes.push(tx.execute(sql`WITH ${ctes} ${notify ?? sql`SELECT 1`}`));
  } else if (notify) {
    writes.push(tx.execute(notify));
  }
  writes.push(...accountChangeWrites(tx, batch.accounts));
  return writes;
}

/**
 * One parameter per column (arrays unnested by PostgreSQL): drizzle's insert builder spent ~200 ms building a
 * 500-row, 3,000-parameter statement on the event loop, this takes ~1 ms (docs/perf-journal.md). The frames go as one
 * binary parameter cut by offsets, the laid-out buffer itself (the fan-out's headers between them): node-postgres
 * sends a Buffer as it is, but writes a bytea[] as hex inside an array literal (twice the bytes, a hex pass on each
 * side, large strings to collect).
 */
function eventsInsert(rows: BatchEvent[], laid: LaidOutEvents): SQL {
  const { bytes: frames, events: committed } = laid;
  const starts = committed.map((c) => c.frame.byteOffset - frames.byteOffset + 1);
  return sql`
    INSERT INTO ${events} (seq, did, kind, frame, host_id, upstream_seq, time_us)
    SELECT r.seq, r.did, r.kind, substring(f.frames from r.start for r.length), r.host_id, r.upstream_seq, r.time_us
    FROM unnest(
      ${arrayParam(committed.map((c) => c.seq))}::bigint[], ${arrayParam(rows.map((r) => r.did))}::text[],
      ${arrayParam(rows.map((r) => r.kind))}::text[], ${arrayParam(starts)}::integer[],
      ${arrayParam(committed.map((c) => c.frame.length))}::integer[],
      ${arrayParam(rows.map((r) => r.hostId))}::integer[], ${arrayParam(rows.map((r) => r.upstreamSeq))}::bigint[],
      ${arrayParam(committed.map((c) => c.timeUs))}::bigint[])
      AS r(seq, did, kind, start, length, host_id, upstream_seq, time_us),
    (SELECT ${frames}::bytea AS frames) AS f`;
}

/**
 * The batch's per-host counts added to the hosts' rows for this minute, in host order: two processes counting for
 * the same hosts (a claim changing hands, an operator's takedown) then take the rows' locks in the same order.
 */
function countsUpsert(counts: Batch['counts']): SQL | null {
  if (counts.size === 0) return null;
  const ids = [...counts.keys()].sort((a, b) => a - b);
  return sql`
    INSERT INTO ${hostEventCounts} AS c (host_id, minute, accepted, rejected)
    SELECT r.host_id, date_trunc('minute', now()), r.accepted, r.rejected
    FROM unnest(${arrayParam(ids)}::integer[], ${arrayParam(ids.map((id) => counts.get(id)!.accepted))}::integer[],
      ${arrayParam(ids.map((id) => counts.get(id)!.rejected))}::integer[]) AS r(host_id, accepted, rejected)
    ON CONFLICT (minute, host_id) DO UPDATE SET accepted = c.accepted + excluded.accepted, rejected = c.rejected + excluded.rejected`;
}

/**
 * One statement for every host in the batch: with many active hosts, a round trip per host inside the transaction
 * held the seq row lock that much longer (docs/perf-journal.md, hosts).
 */
function cursorsUpdate(cursors: Batch['cursors']): SQL | null {
  if (cursors.size === 0) return null;
  const rows = [...cursors].map(
    ([hostId, { cursor, accepted }]) => sql`(${hostId}::integer, ${cursor.at}::bigint, ${arrayParam([...cursor.above])}::bigint[], ${accepted}::boolean)`,
  );
  return sql`
    UPDATE ${hosts} SET
      cursor = v.cursor,
      cursor_above = v.above,
      last_event_at = CASE WHEN v.accepted THEN now() ELSE ${hosts}.last_event_at END,
      updated_at = now()
    FROM (VALUES ${sql.join(rows, sql`, `)}) AS v(id, cursor, above, accepted)
    WHERE ${hosts}.id = v.id`;
}

/** How far back the per-host counts are kept: the longest window the rates endpoint serves. */
export const EVENT_COUNTS_HORIZON_MS = 24 * 3_600_000;

/** Drops the per-host counts older than the horizon (a small table: at most one row per host per minute). */
export async function pruneEventCounts(db: Db): Promise<void> {
  await db.execute(sql`DELETE FROM ${hostEventCounts} WHERE minute < now() - ${sql.raw(`interval '${EVENT_COUNTS_HORIZON_MS / 1000} seconds'`)}`);
}

/** One minute of events: relay-wide, or one host's. */
export interface EventCountPoint {
  /** The minute's start (epoch ms). */
  at: number;
  accepted: number;
  rejected: number;
}

/**
 * Events per minute over the last `minutes` minutes (the current one included), oldest first, a point for every
 * minute (zeros where nothing came); of one host, or of every host.
 */
export async function eventCountSeries(db: Db, minutes: number, hostId?: number): Promise<EventCountPoint[]> {
  if (!Number.isSafeInteger(minutes) || minutes < 1) throw new TypeError(`not a number of minutes: ${minutes}`);
  const res = await db.execute(sql`
    WITH span AS (SELECT date_trunc('minute', now()) AS top)
    SELECT (extract(epoch from m.minute) * 1000)::bigint AS at,
      COALESCE(sum(c.accepted), 0)::bigint AS accepted, COALESCE(sum(c.rejected), 0)::bigint AS rejected
    FROM span, generate_series(span.top - ${sql.raw(`interval '${minutes - 1} minutes'`)}, span.top, interval '1 minute') AS m(minute)
    LEFT JOIN ${hostEventCounts} c ON c.minute = m.minute${hostId === undefined ? sql`` : sql` AND c.host_id = ${hostId}`}
    GROUP BY m.minute ORDER BY m.minute`);
  const rows = (res as { rows: Array<{ at: string | number; accepted: string | number; rejected: string | number }> }).rows;
  return rows.map((r) => ({ at: Number(r.at), accepted: Number(r.accepted), rejected: Number(r.rejected) }));
}

/**
 * Each host's events logged over the last hour (host_id, events), as a subquery: one range of the counts' key
 * (minute first), summed per host. The hosts page sorts by it (storage/hosts.ts) and shows it (`eventsLastHour`).
 */
export const EVENTS_LAST_HOUR = sql`(SELECT host_id, sum(accepted)::bigint AS events FROM ${hostEventCounts} WHERE minute > now() - interval '1 hour' GROUP BY host_id)`;

/** Events each host had logged over the last hour (hosts without any left out). */
export async function eventsLastHour(db: Db, hostIds: readonly number[]): Promise<Map<number, number>> {
  if (hostIds.length === 0) return new Map();
  const res = await db.execute(sql`SELECT host_id, events FROM ${EVENTS_LAST_HOUR} last_hour WHERE host_id = ANY(${arrayParam([...hostIds])}::integer[])`);
  const rows = (res as { rows: Array<{ host_id: number; events: string | number }> }).rows;
  return new Map(rows.map((r) => [Number(r.host_id), Number(r.events)]));
}

/** The frame stored under `seq`, or null (not committed, or pruned). */
export async function frameAt(db: Db, seq: number): Promise<Uint8Array | null> {
  const [row] = await db.select({ frame: events.frame }).from(events).where(eq(events.seq, seq));
  return row?.frame ?? null;
}

/**
 * Room a reader of the log wants before each frame (a WebSocket frame header: firehose/wire-batch.ts) and what
 * fills it: a read lays its events out, headers and frames, back to back in one buffer, so that what a page of
 * the log holds is that buffer, and the frames reach it in one copy.
 */
export interface FrameLayout {
  headerLength(payload: number): number;
  writeHeader(out: Buffer, at: number, payload: number): void;
}

/** Events of the log laid out: each frame a view of `bytes`; offsets[i] is where event i's header starts, offsets[n] the end. */
export interface LaidOutEvents {
  events: CommittedEvent[];
  bytes: Buffer;
  offsets: Uint32Array;
}

const NO_FRAME = new Uint8Array(0);

const NOTHING_LAID_OUT: LaidOutEvents = { events: [], bytes: Buffer.alloc(0), offsets: new Uint32Array(1) };

/** Lays events out one at a time into a buffer sized from a hint, grown when the hint was short. */
export class EventLayout {
  private buf: Buffer;
  private at = 0;
  /** Where each event's header starts, and its frame after it. */
  private readonly starts: number[] = [];
  private readonly frameAts: number[] = [];
  /** Their frames are set once the buffer is final (growing it moves them). */
  private readonly events: CommittedEvent[] = [];
  private readonly layout: FrameLayout;

  constructor(layout: FrameLayout, sizeHint: number) {
    this.layout = layout;
    this.buf = Buffer.allocUnsafe(Math.max(1024, sizeHint));
  }

  /** One event, its frame the `length` bytes of `src` from `from` (copied). */
  add(seq: number, did: string, kind: EventKind, timeUs: number, src: Uint8Array, from: number, length: number): void {
    // Placed first: placing may grow the buffer.
    const at = this.place(seq, did, kind, timeUs, length);
    this.buf.set(src.subarray(from, from + length), at);
  }

  /** One event, its frame written in place under its seq. */
  addFrame(seq: number, did: string, kind: EventKind, timeUs: number, frame: FrameUnderSeq): void {
    const at = this.place(seq, did, kind, timeUs, frame.size(seq));
    frame.write(this.buf, at, seq);
  }

  /** Room for an event's header and frame, the header written: where its frame goes. */
  private place(seq: number, did: string, kind: EventKind, timeUs: number, length: number): number {
    const header = this.layout.headerLength(length);
    if (this.at + header + length > this.buf.length) this.grow(header + length);
    const frameAt = this.at + header;
    this.starts.push(this.at);
    this.frameAts.push(frameAt);
    this.layout.writeHeader(this.buf, this.at, length);
    this.events.push({ seq, did, kind, frame: NO_FRAME, timeUs });
    this.at = frameAt + length;
    return frameAt;
  }

  done(): LaidOutEvents {
    // A hint far too large (the head's page, partly filled) is not kept: the page holds its whole buffer.
    const bytes = this.at < this.buf.length / 2 ? Buffer.from(this.buf.subarray(0, this.at)) : this.buf.subarray(0, this.at);
    const offsets = new Uint32Array(this.starts.length + 1);
    offsets.set(this.starts);
    offsets[this.starts.length] = this.at;
    const { events, frameAts } = this;
    for (let i = 0; i < events.length; i++) events[i]!.frame = bytes.subarray(frameAts[i]!, offsets[i + 1]!);
    return { events, bytes, offsets };
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + need));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
}

/** Events as a read returns them, laid out (the embedded store's reads, and tests). */
export function layOut(events: readonly CommittedEvent[], layout: FrameLayout): LaidOutEvents {
  const out = new EventLayout(layout, events.reduce((n, e) => n + e.frame.length + 10, 0));
  for (const e of events) out.add(e.seq, e.did, e.kind, e.timeUs, e.frame, 0, e.frame.length);
  return out.done();
}

/**
 * Committed events after `afterSeq` up to `upToSeq`, at most `limit`, in seq order, laid out for the reader
 * (`sizeHint`: the bytes it expects them to take); a taken-down account's repo events are left out (its #identity
 * and #account still flow). On PostgreSQL a page comes as one binary COPY: the frames travel as their bytes, where
 * a query result carries each bytea as hex text that the server encodes and the driver decodes, row by row
 * (docs/perf-journal.md, replay).
 */
export async function readEvents(db: Db, afterSeq: number, upToSeq: number, limit: number, layout: FrameLayout, sizeHint = 0): Promise<LaidOutEvents> {
  const pool = poolOf(db);
  if (pool) return copyEvents(pool, afterSeq, upToSeq, limit, new EventLayout(layout, sizeHint));
  const rows = await db
    .select({ seq: events.seq, did: events.did, kind: events.kind, frame: events.frame, timeUs: events.timeUs })
    .from(events)
    .where(and(gt(events.seq, afterSeq), lte(events.seq, upToSeq), sql`NOT (${events.kind} IN ('commit', 'sync') AND ${events.did} IN (${TAKEN_DOWN}))`))
    .orderBy(asc(events.seq))
    .limit(limit);
  return layOut(rows.map((r) => ({ seq: r.seq, did: r.did, kind: r.kind as EventKind, frame: r.frame, timeUs: r.timeUs ?? 0 })), layout);
}

/**
 * The accounts an operator took down: a hashed set each read builds once from their partial index, not a key probe
 * into accounts for every row read.
 */
const TAKEN_DOWN = sql`SELECT ${accounts.did} FROM ${accounts} WHERE ${accounts.localStatus} IS NOT NULL`;

async function copyEvents(pool: pg.Pool, afterSeq: number, upToSeq: number, limit: number, out: EventLayout): Promise<LaidOutEvents> {
  // COPY takes no parameters: the three are integers (checked), written into the statement.
  for (const n of [afterSeq, upToSeq, limit]) if (!Number.isSafeInteger(n)) throw new TypeError(`not an integer: ${n}`);
  const reader = new BinaryCopyReader((b, { starts: at, lengths: len }) => {
    out.add(
      int8At(b, at[0]!),
      b.toString('utf8', at[1]!, at[1]! + len[1]!),
      b.toString('latin1', at[2]!, at[2]! + len[2]!) as EventKind,
      len[4] === -1 ? 0 : int8At(b, at[4]!),
      b,
      at[3]!,
      len[3]!,
    );
  });
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    await copyOut(
      client,
      `COPY (
        SELECT seq, did, kind, frame, time_us FROM events
        WHERE seq > ${afterSeq} AND seq <= ${upToSeq}
          AND NOT (kind IN ('commit', 'sync') AND did IN (SELECT did FROM accounts WHERE local_status IS NOT NULL))
        ORDER BY seq LIMIT ${limit}) TO STDOUT (FORMAT binary)`,
      (piece) => reader.push(piece),
    );
    reader.end();
    return out.done();
  } catch (err) {
    failed = err as Error;
    throw err;
  } finally {
    // A connection whose COPY failed half-way is not handed to anyone else.
    client.release(failed);
  }
}

/** The node-postgres pool under a drizzle instance; null on the embedded store. */
function poolOf(db: Db): pg.Pool | null {
  const client = (db as unknown as { $client?: unknown }).$client;
  return client instanceof pg.Pool ? client : null;
}

/**
 * The seq after which the events later than `timeUs` begin: the newest seq whose event ends at or before it (an
 * event taking several microseconds may straddle it; the caller skips its part at or before). time_us increases
 * with seq, so this is a binary search by the seq key, ~30 lookups over any window, and the log keeps no second
 * index to write. Events logged before they had times count as earlier than any. Null when the window is empty.
 */
export async function seqBeforeTime(db: Db, timeUs: number): Promise<number | null> {
  const oldest = await oldestRetainedSeq(db);
  if (oldest === null) return null;
  let lo = oldest - 1;
  let hi = await committedSeq(db);
  // Invariant: the event at lo (or nothing, at oldest - 1) ends at or before timeUs; every event above hi is later.
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    const [row] = await db.select({ t: events.timeUs }).from(events).where(eq(events.seq, mid));
    // A seq missing under the head was pruned meanwhile: it is before anything still kept.
    if (!row || (row.t ?? 0) <= timeUs) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The last seq committed by any relay process. */
export async function committedSeq(db: Db): Promise<number> {
  const [row] = await db.select({ seq: relaySeq.seq }).from(relaySeq).where(sql`${relaySeq.id} = 1`);
  return row?.seq ?? 0;
}

/**
 * Whether a reader that has everything up to `after` and read next the events above it up to `upTo`, the first of
 * them `first` (undefined: none), lost events to pruning: the read skips seqs (taken-down accounts' events are
 * skipped too) and the window now starts past them.
 */
export async function prunedPast(db: Db, after: number, first: number | undefined, upTo: number): Promise<boolean> {
  if ((first ?? upTo + 1) <= after + 1) return false;
  return ((await oldestRetainedSeq(db)) ?? Infinity) > after + 1;
}

/** Oldest seq still in the replay window, or null when the window is empty. */
export async function oldestRetainedSeq(db: Db): Promise<number | null> {
  const [row] = await db.select({ seq: sql<number | null>`min(${events.seq})`.mapWith(Number) }).from(events);
  return row?.seq ?? null;
}

/** A partition of the log with the events it holds (seqs are gapless: a range below the newest is full). */
export interface LogPartition {
  name: string;
  fromSeq: number;
  toSeq: number;
  createdAt: Date;
  events: number;
}

/** The log's partitions, oldest first, with how many events each holds. */
export async function logPartitions(db: Db): Promise<LogPartition[]> {
  const parts = await db.select().from(eventPartitions).orderBy(asc(eventPartitions.fromSeq));
  if (parts.length === 0) return [];
  const head = await committedSeq(db);
  return parts.map((p) => ({ ...p, events: Math.max(0, Math.min(p.toSeq, head + 1) - Math.max(p.fromSeq, 1)) }));
}

/** Average frame size of the newest frames (a bounded scan, whatever the size of the log); 0 when there are none. */
export async function recentFrameBytes(db: Db, sample = 10_000): Promise<number> {
  const res = await db.execute(sql`
    SELECT avg(octet_length(f)) AS avg FROM (SELECT ${events.frame} AS f FROM ${events} ORDER BY ${events.seq} DESC LIMIT ${sample}) t`);
  return Number((res as { rows: Array<{ avg: string | number | null }> }).rows[0]?.avg ?? 0) || 0;
}

/**
 * Drops a partition of the log, whole: no row is deleted, nothing is left for vacuum. On PostgreSQL it is detached
 * first without blocking the writers and readers of the log (CONCURRENTLY, outside a transaction).
 */
export async function dropPartition(db: Db, name: string, concurrently: boolean): Promise<void> {
  const table = sql.identifier(name);
  await db.execute(sql`ALTER TABLE ${events} DETACH PARTITION ${table}${concurrently ? sql` CONCURRENTLY` : sql``}`);
  await db.transaction(async (tx) => {
    await tx.execute(sql`DROP TABLE ${table}`);
    await tx.delete(eventPartitions).where(eq(eventPartitions.name, name));
  });
}

/** Disk the log's partitions take (heap, TOAST and index), for operators. */
export async function logBytes(db: Db): Promise<number> {
  const res = await db.execute(sql`SELECT COALESCE(sum(pg_total_relation_size(quote_ident(name))), 0) AS bytes FROM ${eventPartitions}`);
  return Number((res as { rows: Array<{ bytes: string | number }> }).rows[0]?.bytes ?? 0);
}

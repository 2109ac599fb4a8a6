// The read budget every upstream connection shares: a turn of the event loop reads at most so many frames, the
// rest wait for the next turn, and nothing is lost or reordered. The budget alone, then two real connections
// reading bursts from a real WebSocket server.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { createReadTurns } from '../../../src/ingest/read-turns.ts';
import { UpstreamConnection } from '../../../src/ingest/upstream.ts';
import { encodeMessageFrame } from '../../../src/protocol/frame.ts';
import { createMetrics } from '../../../src/metrics.ts';
import { systemClock } from '../../../src/core/clock.ts';

describe('createReadTurns', () => {
  it('grants a turn its frames, then resumes whoever waited when the next turn starts', () => {
    const turns: Array<() => void> = [];
    const budget = createReadTurns(3, (fn) => turns.push(fn));
    const [a, b] = [{}, {}];
    expect([budget.take(a), budget.take(b), budget.take(a), budget.take(b)]).toEqual([true, true, true, false]);
    const resumed: string[] = [];
    budget.wait(() => resumed.push('a'));
    budget.wait(() => resumed.push('b'));
    // One turn scheduled however many took or waited.
    expect(turns).toHaveLength(1);
    expect(resumed).toEqual([]);
    turns.shift()!();
    expect(resumed).toEqual(['a', 'b']);
    expect(budget.take(a)).toBe(true);
  });

  it('does not hold a reader that is alone in its turn and was in the last', () => {
    const turns: Array<() => void> = [];
    const budget = createReadTurns(2, (fn) => turns.push(fn));
    const [a, b] = [{}, {}];
    expect([budget.take(a), budget.take(a), budget.take(a), budget.take(a)]).toEqual([true, true, true, true]);
    // A second reader in the same turn finds the budget spent, and so does the first from then on.
    expect([budget.take(b), budget.take(a)]).toEqual([false, false]);
    turns.shift()!();
    // The turn after one with two readers holds even the first reader to the budget.
    expect([budget.take(b), budget.take(b), budget.take(b)]).toEqual([true, true, false]);
    turns.shift()!();
    // Alone in that one, alone again: not held.
    expect([budget.take(b), budget.take(b), budget.take(b)]).toEqual([true, true, true]);
  });

  it('refuses a budget below one frame', () => {
    expect(() => createReadTurns(0)).toThrow(/at least 1/);
  });
});

describe('upstream connections sharing a read budget', () => {
  it('read two bursts across many turns, every frame once and in order', async () => {
    const FRAMES = 2000;
    const BUDGET = 40;
    // ~4 KB frames, as commits are: a 64 KB socket read holds ~16 of them.
    const padding = 'x'.repeat(4000);
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    // Both bursts go out once both connections are open, so the two read in the same turns.
    const open: WebSocket[] = [];
    wss.on('connection', (ws) => {
      if (open.push(ws) < 2) return;
      for (let seq = 1; seq <= FRAMES; seq++) {
        const frame = encodeMessageFrame('#account', { seq, did: `did:plc:${'a'.repeat(24)}`, active: true, time: new Date(0).toISOString(), padding });
        for (const o of open) o.send(frame);
      }
    });
    const port = (wss.address() as { port: number }).port;
    const budget = createReadTurns(BUDGET);
    // Frames per turn of the event loop, counted by a turn marker that moves on with each setImmediate.
    const perTurn: number[] = [];
    let inTurn = 0;
    let marked = false;
    const mark = () => {
      if (marked) return;
      marked = true;
      setImmediate(() => {
        marked = false;
        perTurn.push(inTurn);
        inTurn = 0;
      });
    };
    const seqs: number[][] = [[], []];
    let done: () => void;
    const all = new Promise<void>((r) => (done = r));
    const conns = [0, 1].map(
      (i) =>
        new UpstreamConnection({
          url: () => `ws://127.0.0.1:${port}/`,
          cursor: null,
          listener: {
            event: (evt) => {
              mark();
              inTurn++;
              seqs[i]!.push(evt.seq);
              if (seqs[0]!.length === FRAMES && seqs[1]!.length === FRAMES) done();
            },
            renumbered: () => {},
            reject: (reason, detail) => {
              throw new Error(`rejected ${reason}: ${detail}`);
            },
            status: () => {},
          },
          log: pino({ level: 'silent' }),
          metrics: createMetrics(),
          clock: systemClock,
          reconnectBaseMs: 60_000,
          reconnectMaxMs: 60_000,
          turns: budget,
        }),
    );
    try {
      for (const c of conns) c.start();
      await all;
      const inOrder = Array.from({ length: FRAMES }, (_, k) => k + 1);
      expect(seqs[0]).toEqual(inOrder);
      expect(seqs[1]).toEqual(inOrder);
      // Past the budget each connection finishes the socket read in hand (~16 frames) and stops until the next turn.
      // Only a connection alone in its turn (the first turn, before the other's first frame) reads past that:
      // without the budget most of the bursts came in turns of 500-600 frames.
      const bound = BUDGET + 2 * 20;
      const unbounded = perTurn.filter((n) => n > bound).reduce((a, n) => a + n, 0);
      expect(unbounded).toBeLessThan(0.3 * 2 * FRAMES);
      expect(perTurn.length).toBeGreaterThanOrEqual(FRAMES / bound);
    } finally {
      for (const c of conns) c.stop();
      await new Promise((r) => wss.close(r));
    }
  });
});

// The read budget every upstream connection shares: a turn of the event loop reads at most so many frames, the
// rest wait for the next turn, and nothing is lost or reordered. The budget alone, then two real connections
// reading bursts from a real WebSocket server.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { createReadTurns } from '../../../src/ingest/read-turns.ts';
import { UpstreamConnection } from '../../../src/ingest/upstream.ts';
import { encodeMessageFrame } from '../../../src/protocol/frame.ts';
import { createMetrics } from '../../../src/metrics.ts';
import { systemClock } from '../../../src/core/clock.ts';

describe('createReadTurns', () => {
  it('grants a turn its frames, then resumes whoever waited when the next turn starts', () => {
    const turns: Array<() => void> = [];
    const budget = createReadTurns(3, (fn) => turns.push(fn));
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false]);
    const resumed: string[] = [];
    budget.wait(() => resumed.push('a'));
    budget.wait(() => resumed.push('b'));
    // One turn scheduled however many took or waited.
    expect(turns).toHaveLength(1);
    expect(resumed).toEqual([]);
    turns.shift()!();
    expect(resumed).toEqual(['a', 'b']);
    expect(budget.take()).toBe(true);
  });

  it('refuses a budget below one frame', () => {
    expect(() => createReadTurns(0)).toThrow(/at least 1/);
  });
});

describe('upstream connections sharing a read budget', () => {
  it('read two bursts across many turns, every frame once and in order', async () => {
    const FRAMES = 1500;
    const BUDGET = 40;
    // ~4 KB frames, as commits are: a 64 KB socket read holds ~16 of them.
    const padding = 'x'.repeat(4000);
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => {
      for (let seq = 1; seq <= FRAMES; seq++) ws.send(encodeMessageFrame('#account', { seq, did: `did:plc:${'a'.repeat(24)}`, active: true, time: new Date(0).toISOString(), padding }));
    });
    const port = (wss.address() as { port: number }).port;
    const budget = createReadTurns(BUDGET);
    // Frames per turn of the event loop, counted by a turn marker that moves on with each setImmediate.
    let inTurn = 0;
    let maxInTurn = 0;
    let turnsSeen = 0;
    let marked = false;
    const mark = () => {
      if (marked) return;
      marked = true;
      setImmediate(() => {
        marked = false;
        turnsSeen++;
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
              maxInTurn = Math.max(maxInTurn, ++inTurn);
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
      expect(maxInTurn).toBeLessThanOrEqual(BUDGET + 2 * 20);
      expect(turnsSeen).toBeGreaterThanOrEqual((2 * FRAMES) / (BUDGET + 2 * 20));
    } finally {
      for (const c of conns) c.stop();
      await new Promise((r) => wss.close(r));
    }
  });
});

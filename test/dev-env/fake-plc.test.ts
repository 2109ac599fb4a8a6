// The fake PLC directory's far-away behaviour: answers after the configured latency, within its jitter, and turns
// requests past its per-second limit away with 429 and Retry-After; by default it answers at once, without limit.
import { afterEach, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';

let plc: FakePlc | undefined;
afterEach(async () => {
  await plc?.close();
  plc = undefined;
});

async function timed(url: string): Promise<{ status: number; ms: number; retryAfter: string | null }> {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0, retryAfter: res.headers.get('retry-after') };
}

describe('fake PLC behaviour', () => {
  it('answers at once and without limit by default', async () => {
    plc = await FakePlc.start();
    plc.setDocument('did:plc:aaa', { id: 'did:plc:aaa' });
    const answers = await Promise.all(Array.from({ length: 50 }, () => timed(`${plc!.url}/did:plc:aaa`)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(500);
    expect(plc.rateLimitedCount).toBe(0);
    expect((await timed(`${plc.url}/did:plc:unknown`)).status).toBe(404);
  });

  it('answers after the latency, within the jitter, for documents and errors alike', async () => {
    plc = await FakePlc.start({ latencyMs: 120, jitter: 0.25 });
    plc.setDocument('did:plc:aaa', { id: 'did:plc:aaa' });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => timed(`${plc!.url}/${i % 4 === 0 ? 'did:plc:unknown' : 'did:plc:aaa'}`)));
    for (const a of answers) {
      expect(a.ms).toBeGreaterThanOrEqual(120 * 0.75 - 2);
      // Generous above: a busy machine adds to any wait.
      expect(a.ms).toBeLessThan(120 * 1.25 + 300);
    }
    // Jittered: not all the same.
    expect(Math.max(...answers.map((a) => a.ms)) - Math.min(...answers.map((a) => a.ms))).toBeGreaterThan(5);
    expect(answers.filter((a) => a.status === 404)).toHaveLength(5);
  });

  it('turns requests past the per-second limit away with 429 and Retry-After, then answers again', async () => {
    plc = await FakePlc.start();
    plc.setDocument('did:plc:aaa', { id: 'did:plc:aaa' });
    // Start just after a second begins, so the burst falls in one window.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    plc.configure({ maxPerSecond: 10 });
    const burst = await Promise.all(Array.from({ length: 25 }, () => timed(`${plc!.url}/did:plc:aaa`)));
    expect(burst.filter((a) => a.status === 200)).toHaveLength(10);
    const refused = burst.filter((a) => a.status === 429);
    expect(refused).toHaveLength(15);
    expect(refused.every((a) => a.retryAfter === '1')).toBe(true);
    expect(plc.rateLimitedCount).toBe(15);
    expect(plc.requestCount).toBe(25);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await timed(`${plc.url}/did:plc:aaa`)).status).toBe(200);
  });

  it('leaves a stalled DID unanswered, others not, and answers it once unstalled', async () => {
    plc = await FakePlc.start();
    plc.setDocument('did:plc:slow', { id: 'did:plc:slow' });
    plc.setDocument('did:plc:fast', { id: 'did:plc:fast' });
    plc.stall('did:plc:slow');
    const slow = timed(`${plc.url}/did:plc:slow`);
    let answered = false;
    void slow.then(() => (answered = true));
    expect((await timed(`${plc.url}/did:plc:fast`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(answered).toBe(false);
    expect(plc.stalledRequests('did:plc:slow')).toBe(1);
    plc.unstall('did:plc:slow');
    expect((await slow).status).toBe(200);
    expect((await timed(`${plc.url}/did:plc:slow`)).status).toBe(200);
  });
});

import { describe, expect, it } from 'vitest';
import { OrderedPipeline } from '../../../src/pipeline/ordered-release.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('OrderedPipeline', () => {
  it('releases results in submission order even when later work finishes first', async () => {
    const out: number[] = [];
    const p = new OrderedPipeline<number>((n) => out.push(n));
    p.push('a', async () => (await sleep(30), 1), () => -1);
    p.push('b', async () => 2, () => -1);
    p.push('c', async () => (await sleep(10), 3), () => -1);
    await sleep(60);
    expect(out).toEqual([1, 2, 3]);
    expect(p.pending).toBe(0);
  });

  it('runs work of one key serially and of different keys concurrently', async () => {
    const log: string[] = [];
    const p = new OrderedPipeline<string>(() => {});
    const job = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      return name;
    };
    p.push('did:a', job('a1', 20), () => 'x');
    p.push('did:a', job('a2', 1), () => 'x');
    p.push('did:b', job('b1', 1), () => 'x');
    await sleep(60);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'));
  });

  it('turns a throwing task into a result instead of wedging the queue', async () => {
    const out: string[] = [];
    const p = new OrderedPipeline<string>((r) => out.push(r));
    p.push('k', async () => {
      throw new Error('boom');
    }, (err) => `failed: ${(err as Error).message}`);
    p.push('k', () => 'next', () => 'x');
    await sleep(10);
    expect(out).toEqual(['failed: boom', 'next']);
  });
});

import { describe, expect, it } from 'vitest';
import { AccountChains } from '../../../src/pipeline/account-chains.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AccountChains', () => {
  it('hands each result on when its work is done: one account waiting holds up no other, and keeps its own order', async () => {
    const out: string[] = [];
    const p = new AccountChains<string>((r) => out.push(r));
    p.push('a', async () => (await sleep(30), 'a1'), () => 'x');
    p.push('b', async () => 'b1', () => 'x');
    p.push('a', async () => 'a2', () => 'x');
    p.push('c', async () => (await sleep(10), 'c1'), () => 'x');
    expect(p.pending).toBe(4);
    await sleep(60);
    expect(out).toEqual(['b1', 'c1', 'a1', 'a2']);
    expect(p.pending).toBe(0);
  });

  it('runs work of one key serially and of different keys concurrently', async () => {
    const log: string[] = [];
    const p = new AccountChains<string>(() => {});
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
    const p = new AccountChains<string>((r) => out.push(r));
    p.push('k', async () => {
      throw new Error('boom');
    }, (err) => `failed: ${(err as Error).message}`);
    p.push('k', () => 'next', () => 'x');
    await sleep(10);
    expect(out).toEqual(['failed: boom', 'next']);
  });
});

import { describe, expect, it } from 'vitest';
import { AccountChains, type ChainTask } from '../../../src/pipeline/account-chains.ts';

const task = <R>(run: () => Promise<R> | R, failed: (err: unknown) => R): ChainTask<R> => ({ run, failed });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AccountChains', () => {
  it('hands each result on when its work is done: one account waiting holds up no other, and keeps its own order', async () => {
    const out: string[] = [];
    const p = new AccountChains<string>((r) => out.push(r));
    p.push('a', task(async () => (await sleep(30), 'a1'), () => 'x'));
    p.push('b', task(async () => 'b1', () => 'x'));
    p.push('a', task(async () => 'a2', () => 'x'));
    p.push('c', task(async () => (await sleep(10), 'c1'), () => 'x'));
    expect(['a', 'b', 'c'].map((k) => p.busy(k))).toEqual([true, true, true]);
    await sleep(60);
    expect(out).toEqual(['b1', 'c1', 'a1', 'a2']);
    expect(['a', 'b', 'c'].map((k) => p.busy(k))).toEqual([false, false, false]);
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
    p.push('did:a', task(job('a1', 20), () => 'x'));
    p.push('did:a', task(job('a2', 1), () => 'x'));
    p.push('did:b', task(job('b1', 1), () => 'x'));
    await sleep(60);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'));
  });

  it('turns a throwing task into a result instead of wedging the queue', async () => {
    const out: string[] = [];
    const p = new AccountChains<string>((r) => out.push(r));
    p.push('k', task(async () => {
      throw new Error('boom');
    }, (err) => `failed: ${(err as Error).message}`));
    p.push('k', task(() => 'next', () => 'x'));
    await sleep(10);
    expect(out).toEqual(['failed: boom', 'next']);
  });

  it('starts no work within push, and turns work that throws at once into its result too', async () => {
    const out: string[] = [];
    const p = new AccountChains<string>((r) => out.push(r));
    let ran = false;
    p.push('k', task(() => {
      ran = true;
      throw new Error('at once');
    }, (err) => `failed: ${(err as Error).message}`));
    p.push('k', task(() => 'next', () => 'x'));
    expect(ran).toBe(false);
    expect(p.busy('k')).toBe(true);
    await sleep(10);
    expect(out).toEqual(['failed: at once', 'next']);
    expect(p.busy('k')).toBe(false);
  });
});

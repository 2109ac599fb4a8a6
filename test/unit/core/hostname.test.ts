import { describe, expect, it } from 'vitest';
import { hostUrls, normalizeHostname } from '../../../src/core/hostname.ts';
import { backoffDelay } from '../../../src/core/retry.ts';

describe('normalizeHostname', () => {
  const secure = { allowInsecure: false };
  it('accepts and normalises public hostnames', () => {
    expect(normalizeHostname('PDS.Example.com', secure)).toEqual({ ok: true, hostname: 'pds.example.com' });
    expect(normalizeHostname('https://pds.example.com/', secure)).toEqual({ ok: true, hostname: 'pds.example.com' });
  });
  it('rejects junk, paths, ports and IPs', () => {
    for (const bad of ['', 'localhost', 'pds', 'pds.example.com/xrpc', 'pds.example.com:8080', '10.0.0.1', 'a..b', 'user@pds.example.com', 42]) {
      expect(normalizeHostname(bad, secure).ok, String(bad)).toBe(false);
    }
  });
  it('allows localhost:PORT only in insecure mode', () => {
    expect(normalizeHostname('localhost:2583', secure).ok).toBe(false);
    expect(normalizeHostname('localhost:2583', { allowInsecure: true })).toEqual({ ok: true, hostname: 'localhost:2583' });
  });
  it('uses TLS except for local development hosts', () => {
    expect(hostUrls('pds.example.com', true).ws).toBe('wss://pds.example.com');
    expect(hostUrls('localhost:2583', true).ws).toBe('ws://localhost:2583');
    expect(hostUrls('localhost:2583', false).http).toBe('https://localhost:2583');
  });
});

describe('backoffDelay', () => {
  it('grows exponentially, is capped, and is jittered over the upper half', () => {
    expect(backoffDelay(1, 1000, 3_600_000, () => 0)).toBe(500);
    expect(backoffDelay(1, 1000, 3_600_000, () => 1)).toBe(1000);
    expect(backoffDelay(4, 1000, 3_600_000, () => 1)).toBe(8000);
    expect(backoffDelay(40, 1000, 3_600_000, () => 1)).toBe(3_600_000);
    expect(backoffDelay(40, 1000, 3_600_000, () => 0)).toBe(1_800_000);
  });
});

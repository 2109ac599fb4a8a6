// Host status transitions and the periodic review of a crawled host, as pure functions.
import { describe, expect, it } from 'vitest';
import { nextStatus, reviewHost } from '../../../src/ingest/host-lifecycle.ts';

const NOW = Date.UTC(2030, 0, 1);
const HOUR = 3_600_000;

describe('nextStatus', () => {
  it('is active once connected, and clears the failures and the throttle', () => {
    for (const from of ['connecting', 'offline', 'throttled', 'idle', 'active'] as const) {
      expect(nextStatus(from, { kind: 'connected' }, 3)).toEqual({ status: 'active', extra: { failedAttempts: 0, connected: true, throttledUntil: null } });
    }
  });

  it('is connecting, not active, while a dial fails, and offline after the configured number of failures in a row', () => {
    const failed = (n: number) => ({ kind: 'failed' as const, consecutiveFailures: n, error: 'DNS: getaddrinfo ENOTFOUND pds.example.com' });
    for (const from of ['connecting', 'active', 'idle', 'throttled'] as const) {
      expect(nextStatus(from, failed(2), 3)).toEqual({
        status: 'connecting',
        extra: { failedAttempts: 2, error: 'DNS: getaddrinfo ENOTFOUND pds.example.com' },
      });
    }
    expect(nextStatus('connecting', failed(3), 3).status).toBe('offline');
    // A restarted process counts failures from one again: the host stays offline until it connects.
    expect(nextStatus('offline', failed(1), 3).status).toBe('offline');
  });

  it('records a throttle with the time it lifts', () => {
    expect(nextStatus('active', { kind: 'throttled', until: NOW + HOUR }, 3)).toEqual({
      status: 'throttled',
      extra: { throttledUntil: new Date(NOW + HOUR), throttled: true },
    });
  });
});

describe('reviewHost', () => {
  const host = (over: Partial<Parameters<typeof reviewHost>[0]> = {}) => ({
    status: 'active',
    lastEventAt: new Date(NOW - 10_000),
    lastConnectedAt: new Date(NOW - 20_000),
    createdAt: new Date(NOW - 48 * HOUR),
    lastThrottledAt: null,
    ...over,
  });
  const opts = { connected: true, tier: 'new' as const, now: NOW, idleAfterMs: HOUR, promoteAfterMs: 0 };

  it('shows a connected host idle when quiet, and active again on traffic', () => {
    expect(reviewHost(host(), opts)).toEqual({});
    expect(reviewHost(host({ lastEventAt: new Date(NOW - 2 * HOUR), lastConnectedAt: new Date(NOW - 2 * HOUR) }), opts)).toEqual({ status: 'idle' });
    expect(reviewHost(host({ status: 'idle' }), opts)).toEqual({ status: 'active' });
    // Not connected: the connection's own status stands.
    expect(reviewHost(host({ lastEventAt: null, lastConnectedAt: null }), { ...opts, connected: false })).toEqual({});
  });

  it('promotes a new host after a clean period, never a throttled one, a trusted one or with promotion off', () => {
    const promote = { ...opts, promoteAfterMs: 24 * HOUR };
    expect(reviewHost(host(), promote)).toEqual({ promote: true });
    expect(reviewHost(host({ lastThrottledAt: new Date(NOW - HOUR) }), promote)).toEqual({});
    expect(reviewHost(host({ status: 'throttled' }), promote)).toEqual({});
    expect(reviewHost(host(), { ...promote, tier: 'trusted' })).toEqual({});
    expect(reviewHost(host(), opts)).toEqual({});
  });
});

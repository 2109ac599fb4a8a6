import { describe, expect, it } from 'vitest';
import { checkHostAddresses, isPublicAddress } from '../../../src/ingest/address-policy.ts';

describe('address policy', () => {
  it('allows public unicast and refuses loopback, private, link-local, CGNAT, documentation and multicast', () => {
    for (const ok of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isPublicAddress(ok), ok).toBe(true);
    for (const bad of [
      '127.0.0.1', '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
      '192.0.2.1', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1',
      '::ffff:10.0.0.1', 'ff02::1', 'not an ip',
    ]) {
      expect(isPublicAddress(bad), bad).toBe(false);
    }
  });

  it('refuses a host if any of its addresses is not public', async () => {
    const lookup = async (h: string) => ({ good: ['93.184.216.34'], mixed: ['93.184.216.34', '10.0.0.8'], none: [] as string[] })[h as 'good'] ?? [];
    expect(await checkHostAddresses('good', lookup)).toBeNull();
    expect(await checkHostAddresses('mixed', lookup)).toContain('10.0.0.8');
    expect(await checkHostAddresses('none', lookup)).toContain('does not resolve');
  });
});

// Which addresses the relay may dial for a host: public unicast only, so requestCrawl cannot point the relay at
// itself, its network neighbours or cloud metadata services. (Local development hosts are allowed separately,
// with RELAY_ALLOW_INSECURE_HOSTS.)
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { lookup as dnsLookup } from 'node:dns/promises';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return isPublicAddress(mapped[1]!);
    return !blocked.check(address, 'ipv6');
  }
  return !blocked.check(address, 'ipv4');
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** What RELAY_ALLOW_INSECURE_HOSTS lets the relay dial besides public addresses (development on one machine). */
function isLoopback(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
  const family = isIP(mapped);
  return family !== 0 && loopback.check(mapped, family === 6 ? 'ipv6' : 'ipv4');
}

export type Lookup = (hostname: string) => Promise<string[]>;

export const systemLookup: Lookup = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** Null when every address of the host is public; otherwise why not. */
export async function checkHostAddresses(hostname: string, lookup: Lookup): Promise<string | null> {
  let addresses: string[];
  try {
    addresses = await lookup(hostname.split(':')[0]!);
  } catch (err) {
    return `${hostname} does not resolve: ${(err as Error).message}`;
  }
  if (addresses.length === 0) return `${hostname} does not resolve`;
  const bad = addresses.find((a) => !isPublicAddress(a));
  return bad ? `${hostname} resolves to ${bad}, which is not a public address` : null;
}

/**
 * A resolver for the dial itself (the `lookup` option of net/http/ws): it resolves, refuses unless every address
 * is public, and hands the socket exactly the addresses it checked. Checking at admission alone is not enough: a
 * host can answer DNS with a public address then and a private one later (DNS rebinding).
 */
export function publicOnlyLookup(
  lookup: Lookup,
  onRefused: (detail: string) => void,
  o: { allowLoopback?: boolean } = {},
): LookupFunction {
  const allowed = (a: string) => isPublicAddress(a) || (o.allowLoopback === true && isLoopback(a));
  return (hostname, options, callback) => {
    lookup(hostname).then(
      (addresses) => {
        const bad = addresses.length === 0 ? 'no address' : addresses.find((a) => !allowed(a));
        if (bad !== undefined) {
          const detail = `${hostname} resolves to ${bad}, which is not a public address`;
          onRefused(detail);
          const err = Object.assign(new Error(detail), { code: 'EADDRNOTPUBLIC' });
          return callback(err, '', 0);
        }
        const all = addresses.map((address) => ({ address, family: isIP(address) }));
        if (options.all) return (callback as unknown as (e: null, a: typeof all) => void)(null, all);
        callback(null, all[0]!.address, all[0]!.family);
      },
      (err: Error) => callback(Object.assign(err, { code: (err as { code?: string }).code ?? 'ENOTFOUND' }), '', 0),
    );
  };
}

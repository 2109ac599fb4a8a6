// The default handle sources (identity/handle.ts networkHandleSources) for real on loopback: DNS TXT records from a
// small DNS server on 127.0.0.1 over UDP (a node:dns Resolver pointed at it), and /.well-known/atproto-did from an
// HTTPS server with a certificate made here, fetched through the relay's untrusted-request path (public addresses
// only, loopback allowed as RELAY_ALLOW_INSECURE_HOSTS allows it).
import { createSocket, type Socket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkHandleSources, resolveHandle, type HandleSources } from '../../src/identity/handle.ts';
import { untrustedGet } from '../../src/ingest/http-json.ts';

const DID_A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const DID_B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';

/** TXT records by name; a name not here answers NXDOMAIN. */
const txt = new Map<string, string[][]>([
  ['_atproto.one.handles.test', [[`did=${DID_A}`]]],
  // One record in two strings (a long value is split so): joined, it is one DID.
  ['_atproto.split.handles.test', [['did=did:plc:aaaaaaaaaaaa', 'aaaaaaaaaaaa'], ['v=spf1 -all']]],
  ['_atproto.two.handles.test', [[`did=${DID_A}`], [`did=${DID_B}`]]],
]);
const queried: string[] = [];

/** Answers A-less, TXT-only DNS: the question echoed, each record's strings length-prefixed. */
function dnsAnswer(query: Buffer): Buffer {
  const labels: string[] = [];
  let off = 12;
  while (query[off] !== 0) {
    const len = query[off]!;
    labels.push(query.toString('latin1', off + 1, off + 1 + len));
    off += len + 1;
  }
  const questionEnd = off + 5;
  const name = labels.join('.').toLowerCase();
  const qtype = query.readUInt16BE(off + 1);
  queried.push(name);
  const records = qtype === 16 ? (txt.get(name) ?? null) : null;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180 | (txt.has(name) ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records?.length ?? 0, 6);
  const answers = (records ?? []).map((strings) => {
    const rdata = Buffer.concat(strings.map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(16, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
}

/** What each handle's /.well-known/atproto-did serves. */
function wellKnown(host: string): { status: number; body: string; location?: string } {
  switch (host) {
    case 'web.handles.test':
    case 'one.handles.test':
      return { status: 200, body: `${DID_B}\n` };
    case 'moved.handles.test':
      return { status: 302, body: '', location: 'https://web.handles.test/.well-known/atproto-did' };
    case 'big.handles.test':
      // A valid DID, padded past what a DID could be: refused whole, not cut to size.
      return { status: 200, body: `${DID_B}${' '.repeat(4096)}` };
    default:
      return { status: 404, body: 'not found' };
  }
}

let dir: string;
let dns: Socket;
let https: Server;
let resolver: Resolver;
let ca: string;
let port: number;
const lookup = async (h: string) => (h.endsWith('.handles.test') ? ['127.0.0.1'] : []);
const sources = (allowLoopback: boolean): HandleSources =>
  networkHandleSources({ resolver, get: untrustedGet({ lookup, allowLoopback, ca }), httpsPort: port });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-handles-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=handles.test',
    '-addext', 'subjectAltName=DNS:*.handles.test',
  ], { stdio: 'ignore' });
  ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
  dns = createSocket('udp4');
  dns.on('message', (msg, from) => dns.send(dnsAnswer(msg), from.port, from.address));
  await new Promise<void>((r) => dns.bind(0, '127.0.0.1', () => r()));
  resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${dns.address().port}`]);
  https = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca }, (req, res) => {
    const answer = req.url === '/.well-known/atproto-did' ? wellKnown(String(req.headers.host).split(':')[0]!) : { status: 404, body: '' };
    res.writeHead(answer.status, { 'content-type': 'text/plain', ...(answer.location ? { location: answer.location } : {}) });
    res.end(answer.body);
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
  port = (https.address() as AddressInfo).port;
});

afterAll(async () => {
  dns?.close();
  await new Promise((r) => (https ? https.close(r) : r(undefined)));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('handle sources on the network', () => {
  it('reads one _atproto TXT record, a record in several strings, and treats two as none', async () => {
    const s = sources(true);
    expect(await s.txt('one.handles.test')).toBe(DID_A);
    expect(await s.txt('split.handles.test')).toBe(DID_A);
    expect(await s.txt('two.handles.test')).toBeNull();
    expect(await s.txt('web.handles.test')).toBeNull();
    expect(queried).toEqual(expect.arrayContaining(['_atproto.one.handles.test', '_atproto.two.handles.test', '_atproto.web.handles.test']));
  });

  it('falls back to /.well-known/atproto-did over HTTPS when there is no TXT record', async () => {
    const did = await resolveHandle('WEB.handles.test', { sources: sources(true), claimedHandle: async (d) => (d === DID_B ? 'web.handles.test' : null) });
    expect(did).toBe(DID_B);
    // The TXT record wins where there is one.
    expect(await resolveHandle('one.handles.test', { sources: sources(true), claimedHandle: async () => 'one.handles.test' })).toBe(DID_A);
  });

  it('refuses a redirect, a body too large to be a DID, and a missing document', async () => {
    const s = sources(true);
    expect(await s.wellKnown('moved.handles.test')).toBeNull();
    expect(await s.wellKnown('big.handles.test')).toBeNull();
    expect(await s.wellKnown('none.handles.test')).toBeNull();
    await expect(resolveHandle('moved.handles.test', { sources: s, claimedHandle: async () => 'moved.handles.test' })).rejects.toThrow('names no DID');
  });

  it('dials only public addresses unless loopback is allowed (RELAY_ALLOW_INSECURE_HOSTS)', async () => {
    expect(await sources(true).wellKnown('web.handles.test')).toBe(DID_B);
    expect(await sources(false).wellKnown('web.handles.test')).toBeNull();
  });
});

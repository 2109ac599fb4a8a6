// GETs to hosts the relay does not trust: the address dialled is the one the given lookup gave (kept-alive
// connections included), and every way an answer can go wrong is an answer or a clear rejection.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, getText } from '../../../src/ingest/http-json.ts';
import { publicOnlyLookup } from '../../../src/ingest/address-policy.ts';

let server: Server;
let port: number;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    if (req.url === '/json') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    if (req.url === '/big') return res.end('x'.repeat(10_000));
    if (req.url === '/moved') return res.writeHead(302, { location: '/json' }).end();
    if (req.url === '/slow') return setTimeout(() => res.end('late'), 500);
    res.writeHead(404).end('{"error":"NotFound"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('getJson / getText', () => {
  it('dials the address its lookup gives, on kept-alive and one-off connections alike', async () => {
    const names: string[] = [];
    const lookup = publicOnlyLookup(async (h) => (names.push(h), h === 'pds.test.invalid' ? ['127.0.0.1'] : []), () => {}, { allowLoopback: true });
    for (const pooled of [true, false]) {
      const url = new URL(`http://pds.test.invalid:${port}/json`);
      expect(await getJson(url, { timeoutMs: 2000, lookup, pooled })).toEqual({ status: 200, body: { ok: true } });
    }
    expect(names).toContain('pds.test.invalid');
    expect(seen).toContain(`pds.test.invalid:${port} /json`);
    // A name the lookup refuses is never dialled by another resolver.
    await expect(getJson(new URL(`http://elsewhere.test.invalid:${port}/json`), { timeoutMs: 2000, lookup })).rejects.toThrow(/not a public address/);
  });

  it('answers statuses as they come, drops a body past its limit, follows no redirect', async () => {
    const base = `http://127.0.0.1:${port}`;
    expect(await getJson(new URL(`${base}/missing`), { timeoutMs: 2000 })).toEqual({ status: 404, body: { error: 'NotFound' } });
    expect(await getText(new URL(`${base}/big`), { timeoutMs: 2000, maxBytes: 100 })).toEqual({ status: 200, text: null });
    expect(await getText(new URL(`${base}/big`), { timeoutMs: 2000, maxBytes: 20_000 })).toEqual({ status: 200, text: 'x'.repeat(10_000) });
    expect((await getJson(new URL(`${base}/moved`), { timeoutMs: 2000 })).status).toBe(302);
  });

  it('rejects on its deadline and on the caller stopping it', async () => {
    const url = new URL(`http://127.0.0.1:${port}/slow`);
    await expect(getText(url, { timeoutMs: 100, maxBytes: 100 })).rejects.toThrow('timed out after 100 ms');
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    await expect(getText(url, { timeoutMs: 2000, maxBytes: 100, signal: stop.signal })).rejects.toThrow('aborted');
    await expect(getText(new URL('http://127.0.0.1:1/'), { timeoutMs: 2000, maxBytes: 100 })).rejects.toThrow(/ECONNREFUSED|connect/);
  });
});

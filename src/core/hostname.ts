// Host names as the relay stores them: lower-case, no scheme, no path; a port only for local development hosts.

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LOCAL = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3})(:\d{1,5})?$/;

export type HostnameResult = { ok: true; hostname: string } | { ok: false; message: string };

export function isLocalDevHost(hostname: string): boolean {
  return LOCAL.test(hostname);
}

export function normalizeHostname(input: unknown, opts: { allowInsecure: boolean }): HostnameResult {
  if (typeof input !== 'string' || input.trim() === '') return { ok: false, message: 'hostname is required' };
  let h = input.trim().toLowerCase();
  h = h.replace(/^(https?|wss?):\/\//, '').replace(/\/+$/, '');
  if (h.length > 253 + 6) return { ok: false, message: 'hostname is too long' };
  if (/[/?#@\s]/.test(h)) return { ok: false, message: 'hostname must not contain a path, query or credentials' };
  if (isLocalDevHost(h)) {
    if (!opts.allowInsecure) return { ok: false, message: 'local hosts are only allowed with RELAY_ALLOW_INSECURE_HOSTS' };
    const port = Number(h.split(':')[1] ?? '0');
    if (port > 65535) return { ok: false, message: 'invalid port' };
    return { ok: true, hostname: h };
  }
  if (h.includes(':')) return { ok: false, message: 'a port is only allowed on localhost (development)' };
  const labels = h.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) {
    return { ok: false, message: `"${h}" is not a valid hostname` };
  }
  if (/^\d+$/.test(labels.at(-1)!)) return { ok: false, message: 'IP addresses are not accepted as hostnames' };
  return { ok: true, hostname: h };
}

/** Base URLs of a host: plain http/ws only for local development hosts when insecure hosts are allowed. */
export function hostUrls(hostname: string, allowInsecure: boolean): { http: string; ws: string } {
  const insecure = allowInsecure && isLocalDevHost(hostname);
  return { http: `${insecure ? 'http' : 'https'}://${hostname}`, ws: `${insecure ? 'ws' : 'wss'}://${hostname}` };
}

// The CLI's client for a running relay's /admin API.

export interface AdminClientOptions {
  url: string;
  password: string | null;
}

export async function adminRequest(
  opts: AdminClientOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<unknown> {
  if (!opts.password) throw new Error('set RELAY_ADMIN_PASSWORD (or pass --password) to use admin commands');
  const res = await fetch(`${opts.url.replace(/\/+$/, '')}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${opts.password}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const e = json as { error?: string; message?: string } | null;
    throw new Error(`${method} ${path}: ${e?.error ?? `HTTP ${res.status}`}: ${e?.message ?? ''}`);
  }
  return json;
}

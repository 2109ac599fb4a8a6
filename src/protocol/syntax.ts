// atproto string formats the relay checks on the wire: DIDs, handles, NSIDs, record keys, repo paths, datetimes.

const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/;

export function isDid(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 2048 && DID_RE.test(s);
}

const HANDLE_RE = /^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

export function isHandle(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 253 && HANDLE_RE.test(s);
}

const NSID_RE =
  /^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+\.[a-zA-Z]([a-zA-Z0-9]{0,62})?$/;

export function isNsid(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 317 && NSID_RE.test(s);
}

const RKEY_RE = /^[a-zA-Z0-9._:~-]{1,512}$/;

export function isRecordKey(s: unknown): s is string {
  return typeof s === 'string' && RKEY_RE.test(s) && s !== '.' && s !== '..';
}

export function isRepoPath(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const slash = s.indexOf('/');
  if (slash === -1 || s.indexOf('/', slash + 1) !== -1) return false;
  return isNsid(s.slice(0, slash)) && isRecordKey(s.slice(slash + 1));
}

// RFC 3339 with an upper-case T, whole seconds at least, a required timezone (Z or ±hh:mm, not -00:00).
const DATETIME_RE = /^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?(Z|[+-][0-2][0-9]:[0-5][0-9])$/;

export function isDatetime(s: unknown): s is string {
  if (typeof s !== 'string' || s.length > 64 || !DATETIME_RE.test(s)) return false;
  if (s.endsWith('-00:00')) return false;
  return !Number.isNaN(Date.parse(s));
}

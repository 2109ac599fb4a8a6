// TIDs: 13 characters of base32-sortable encoding a 64-bit value (53 bits of microseconds, 10 bits of clock id).
// String order equals numeric order, so revs compare as strings.

const ALPHABET = '234567abcdefghijklmnopqrstuvwxyz';
const TID_RE = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;

export function isTid(s: unknown): s is string {
  return typeof s === 'string' && TID_RE.test(s);
}

export function compareTids(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Microseconds since the epoch encoded in a TID. */
export function tidTimestampMicros(tid: string): number {
  let v = 0n;
  for (const ch of tid) v = v * 32n + BigInt(ALPHABET.indexOf(ch));
  return Number(v >> 10n);
}

export function tidFromParts(micros: number, clockId: number): string {
  let v = (BigInt(micros) << 10n) | BigInt(clockId & 0x3ff);
  let out = '';
  for (let i = 0; i < 13; i++) {
    out = ALPHABET[Number(v & 31n)] + out;
    v >>= 5n;
  }
  return out;
}

/** Strictly increasing TIDs from the wall clock, as a PDS produces revs. */
export class TidClock {
  private last = 0;

  private readonly clockId: number;
  constructor(clockId = Math.floor(Math.random() * 1024)) {
    this.clockId = clockId;
  }

  next(): string {
    const now = Date.now() * 1000;
    this.last = Math.max(now, this.last + 1);
    return tidFromParts(this.last, this.clockId);
  }
}

// The head of a CBOR item (RFC 8949 section 3): its major type and its argument in the shortest form, as DRISL
// requires. Written by hand where a frame or an MST node is laid out byte by byte into a buffer sized beforehand.

/** Bytes of a head whose argument is `n` (a non-negative integer, at most 2^53 - 1). */
export function cborHeadLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

/** The head of major type `major` with argument `n` at `pos`; the position after it. */
export function writeCborHead(out: Uint8Array, pos: number, major: number, n: number): number {
  const type = major << 5;
  if (n < 24) {
    out[pos] = type | n;
    return pos + 1;
  }
  if (n < 0x100) {
    out[pos] = type | 24;
    out[pos + 1] = n;
    return pos + 2;
  }
  if (n < 0x10000) {
    out[pos] = type | 25;
    out[pos + 1] = n >>> 8;
    out[pos + 2] = n & 0xff;
    return pos + 3;
  }
  if (n < 0x100000000) {
    out[pos] = type | 26;
    writeUint32(out, pos + 1, n);
    return pos + 5;
  }
  out[pos] = type | 27;
  writeUint32(out, pos + 1, Math.floor(n / 0x100000000));
  writeUint32(out, pos + 5, n >>> 0);
  return pos + 9;
}

function writeUint32(out: Uint8Array, pos: number, n: number): void {
  out[pos] = n >>> 24;
  out[pos + 1] = (n >>> 16) & 0xff;
  out[pos + 2] = (n >>> 8) & 0xff;
  out[pos + 3] = n & 0xff;
}

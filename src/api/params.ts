// Query parameter parsing for XRPC queries, with lexicon-style errors.
import { XrpcError } from '../core/xrpc-error.ts';

type Query = Record<string, unknown>;

function single(q: Query, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new XrpcError(400, 'InvalidRequest', `${name} must be given once`);
  return v;
}

export function requiredString(q: Query, name: string): string {
  const v = single(q, name);
  if (v === undefined || v === '') throw new XrpcError(400, 'InvalidRequest', `Error: Params must have the property "${name}"`);
  return v;
}

export function optionalString(q: Query, name: string): string | undefined {
  return single(q, name);
}

export function intParam(q: Query, name: string, opts: { min: number; max: number; default: number }): number {
  const v = single(q, name);
  if (v === undefined) return opts.default;
  if (!/^-?\d+$/.test(v)) throw new XrpcError(400, 'InvalidRequest', `${name} must be an integer`);
  const n = Number(v);
  if (n < opts.min || n > opts.max) {
    throw new XrpcError(400, 'InvalidRequest', `${name} must be between ${opts.min} and ${opts.max}`);
  }
  return n;
}

/** A numeric pagination cursor issued by this relay. */
export function numericCursor(q: Query, name = 'cursor'): number {
  const v = single(q, name);
  if (v === undefined || v === '') return 0;
  if (!/^\d{1,15}$/.test(v)) throw new XrpcError(400, 'InvalidRequest', `malformed ${name}`);
  return Number(v);
}

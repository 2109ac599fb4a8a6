// What the relay needs from a DID document: the atproto signing key, the PDS endpoint and the claimed handle.
import { isDid } from '../protocol/syntax.ts';
import { parseLegacyVerificationKey, parseMultikey, type PublicKey } from '../protocol/did-key.ts';
import { ReasonError } from '../core/reason-error.ts';

export interface Identity {
  did: string;
  /** First at:// alias, lower-cased; not verified. */
  handle: string | null;
  signingKey: PublicKey | null;
  pdsEndpoint: string | null;
  /** host[:port] of the PDS endpoint, lower-cased, default ports dropped: compared with upstream hostnames. */
  pdsHost: string | null;
}

export type IdentityErrorReason =
  | 'bad_syntax'
  | 'unsupported_method'
  | 'not_found'
  | 'tombstoned'
  | 'resolution_failed'
  | 'timeout'
  | 'rate_limited'
  | 'bad_document';

export class IdentityError extends ReasonError<IdentityErrorReason> {
  /** For rate_limited: how long the directory asked us to wait (its Retry-After). */
  readonly retryAfterMs: number | undefined;

  constructor(reason: IdentityErrorReason, message: string, retryAfterMs?: number) {
    super(reason, message);
    this.retryAfterMs = retryAfterMs;
  }
}

function matchesFragment(id: unknown, did: string, fragment: string): boolean {
  return id === fragment || id === `${did}${fragment}`;
}

function signingKey(did: string, methods: unknown): PublicKey | null {
  if (!Array.isArray(methods)) return null;
  for (const m of methods as Array<Record<string, unknown>>) {
    if (typeof m !== 'object' || m === null || !matchesFragment(m.id, did, '#atproto')) continue;
    if (typeof m.publicKeyMultibase !== 'string') continue;
    try {
      if (m.type === 'Multikey') return parseMultikey(m.publicKeyMultibase);
      if (typeof m.type === 'string') return parseLegacyVerificationKey(m.type, m.publicKeyMultibase);
    } catch {
      // A malformed entry is skipped; a later valid one may follow.
    }
  }
  return null;
}

function pdsEndpoint(did: string, services: unknown): { endpoint: string; host: string } | null {
  if (!Array.isArray(services)) return null;
  for (const s of services as Array<Record<string, unknown>>) {
    if (typeof s !== 'object' || s === null || !matchesFragment(s.id, did, '#atproto_pds')) continue;
    if (s.type !== 'AtprotoPersonalDataServer' || typeof s.serviceEndpoint !== 'string') continue;
    let url: URL;
    try {
      url = new URL(s.serviceEndpoint);
    } catch {
      continue;
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || (url.pathname !== '/' && url.pathname !== '')) continue;
    if (url.search || url.hash || url.username) continue;
    return { endpoint: s.serviceEndpoint.replace(/\/$/, ''), host: url.host.toLowerCase() };
  }
  return null;
}

export function parseDidDocument(did: string, doc: unknown): Identity {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new IdentityError('bad_document', 'DID document is not an object');
  }
  const d = doc as Record<string, unknown>;
  if (d.id !== did) throw new IdentityError('bad_document', `DID document id ${String(d.id)} does not match ${did}`);
  const aka = Array.isArray(d.alsoKnownAs) ? (d.alsoKnownAs as unknown[]) : [];
  const handleUri = aka.find((a): a is string => typeof a === 'string' && a.startsWith('at://'));
  const pds = pdsEndpoint(did, d.service);
  return {
    did,
    handle: handleUri ? handleUri.slice(5).toLowerCase() : null,
    signingKey: signingKey(did, d.verificationMethod),
    pdsEndpoint: pds?.endpoint ?? null,
    pdsHost: pds?.host ?? null,
  };
}

export function checkDidSyntax(did: string): void {
  if (!isDid(did)) throw new IdentityError('bad_syntax', `invalid DID ${String(did).slice(0, 100)}`);
  if (!did.startsWith('did:plc:') && !did.startsWith('did:web:')) {
    throw new IdentityError('unsupported_method', `unsupported DID method in ${did.slice(0, 100)}`);
  }
}

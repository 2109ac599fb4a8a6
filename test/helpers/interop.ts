// The official interop vectors, vendored in test/interop.
import { readFileSync } from 'node:fs';

export function interopText(path: string): string {
  return readFileSync(new URL(`../interop/${path}`, import.meta.url), 'utf8');
}

export function interopJson<T>(path: string): T {
  return JSON.parse(interopText(path)) as T;
}

/** A syntax list: one example per line; empty lines and # comments skipped. */
export function interopLines(path: string): string[] {
  return interopText(path)
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'));
}

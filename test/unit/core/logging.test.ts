// The readable log format (from pino's JSON lines) and the warning for RELAY_* variables no setting reads.
import { describe, expect, it } from 'vitest';
import { createLogger, prettyLine } from '../../../src/logging.ts';
import { editDistance, loadConfig, unknownVariables } from '../../../src/config/config.ts';

function captured(format: 'json' | 'pretty') {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', format, destination: { write: (l) => void lines.push(l) } });
  return { log, lines };
}

describe('log format', () => {
  it('writes one readable line with stage, host, message and fields, and the error stack below it', () => {
    const { log, lines } = captured('pretty');
    log.child({ stage: 'ingest', host: 'pds.example.com' }).warn({ code: 1006, reason: 'went away', err: new Error('socket hang up') }, 'upstream closed');
    expect(lines).toHaveLength(1);
    const [head, ...stack] = lines[0]!.trimEnd().split('\n');
    expect(head).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN  \[ingest pds\.example\.com\] upstream closed code=1006 reason="went away" err="Error: socket hang up"$/);
    expect(stack[0]).toMatch(/^ {4}at /);
  });

  it('writes JSON with one host key and no machine hostname', () => {
    const { log, lines } = captured('json');
    log.child({ host: 'pds.example.com' }).info('connected');
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 30, host: 'pds.example.com', msg: 'connected', pid: process.pid });
    expect(entry).not.toHaveProperty('hostname');
  });

  it('passes a line that is not JSON through unchanged, and shows levels by name', () => {
    expect(prettyLine('plain text\n')).toBe('plain text\n');
    expect(prettyLine(JSON.stringify({ level: 20, time: 0, msg: 'm', n: { a: 1 } }))).toBe('00:00:00.000 DEBUG m n={"a":1}\n');
  });

  it('is chosen by RELAY_LOG_FORMAT, auto by default', () => {
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ RELAY_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(() => loadConfig({ RELAY_LOG_FORMAT: 'xml' })).toThrow(/RELAY_LOG_FORMAT: "xml" is not one of auto, json, pretty/);
  });
});

describe('unknown RELAY_* variables', () => {
  it('names each one with the nearest setting when it looks like a typo', () => {
    expect(unknownVariables({ RELAY_ADMIN_PASWORD: 'x', RELAY_PROT: '1', RELAY_PORT: '1', HOME: '/', RELAY_ZZZZZZZZZZZZ: '1' })).toEqual([
      'RELAY_ADMIN_PASWORD is not a setting (did you mean RELAY_ADMIN_PASSWORD?)',
      'RELAY_PROT is not a setting (did you mean RELAY_PORT?)',
      'RELAY_ZZZZZZZZZZZZ is not a setting (relay config lists them)',
    ]);
  });

  it('are carried by the loaded configuration, which still loads', () => {
    const config = loadConfig({ RELAY_LOG_LEVL: 'debug' });
    expect(config.logLevel).toBe('info');
    expect(config.unknownVariables).toEqual(['RELAY_LOG_LEVL is not a setting (did you mean RELAY_LOG_LEVEL?)']);
    expect(loadConfig({ RELAY_LOG_LEVEL: 'debug', DATABASE_URL: '' }).unknownVariables).toEqual([]);
  });

  it('measures edits as insertions, deletions and substitutions', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
});

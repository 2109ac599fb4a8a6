// The relay's logger: JSON lines for log collectors, or one readable line per entry for an operator at a terminal.
// Both are the same pino entries; the readable form is made from each JSON line as it is written.
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LoggerSettings {
  level: string;
  format: LogFormat;
  /** Where lines go (tests capture them); stdout otherwise. */
  destination?: { write(line: string): void };
  options?: Pick<LoggerOptions, 'redact' | 'serializers'>;
}

export function createLogger(settings: LoggerSettings): Logger {
  const out = settings.destination ?? process.stdout;
  const pretty = settings.format === 'pretty' || (settings.format === 'auto' && out === process.stdout && process.stdout.isTTY === true);
  const stream: DestinationStream = pretty ? { write: (line: string) => out.write(prettyLine(line)) } : { write: (line: string) => out.write(line) };
  // No machine `hostname` in each entry: in a relay's log `host` is the PDS, and the machine is what the log
  // collector (journald, the container runtime) labels the stream with.
  return pino({ level: settings.level, base: { pid: process.pid }, ...settings.options }, stream);
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMITTED = new Set(['level', 'time', 'pid', 'msg']);

/**
 * One pino JSON line as `HH:MM:SS.mmm LEVEL [stage host] message key=value ...`, with an error's stack on the lines
 * after it. A line that is not JSON passes unchanged.
 */
export function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const level = (LEVELS[entry.level as number] ?? String(entry.level)).padEnd(5);
  const where = [entry.stage, entry.host].filter((v) => typeof v === 'string').join(' ');
  const fields: string[] = [];
  let stack = '';
  for (const [k, v] of Object.entries(entry)) {
    if (OMITTED.has(k) || (where && (k === 'stage' || k === 'host'))) continue;
    if ((k === 'err' || k === 'error') && v && typeof v === 'object' && 'message' in v) {
      const err = v as { type?: string; message: string; stack?: string };
      fields.push(`${k}=${quote(`${err.type ? `${err.type}: ` : ''}${err.message}`)}`);
      if (err.stack) stack += `\n    ${err.stack.split('\n').slice(1).map((l) => l.trim()).join('\n    ')}`;
      continue;
    }
    fields.push(`${k}=${typeof v === 'string' ? quote(v) : JSON.stringify(v)}`);
  }
  const head = [time, level, where ? `[${where}]` : '', typeof entry.msg === 'string' ? entry.msg : ''].filter(Boolean).join(' ');
  return `${[head, ...fields].join(' ')}${stack}\n`;
}

function quote(s: string): string {
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

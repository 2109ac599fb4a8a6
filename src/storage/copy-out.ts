// A COPY ... TO STDOUT through node-postgres's own protocol parser: each CopyData message's payload is handed to
// `onData` as it is parsed (a view of the driver's buffer, valid during the call). pg-copy-streams took the socket
// from the driver and re-parsed the protocol itself, copying every socket read into a zero-filled buffer of its
// own; a page of the log is read into memory whole anyway, so its stream and backpressure bought nothing here
// (docs/perf-journal.md, session 15).
import type pg from 'pg';

interface Connection {
  query(text: string): void;
}

/** node-postgres's Submittable: the client calls these as the server's messages for the active query arrive. */
class CopyOutQuery {
  private failed: Error | undefined;
  private settled = false;
  readonly text: string;
  private readonly onData: (piece: Buffer) => void;
  private readonly done: (err?: Error) => void;

  constructor(text: string, onData: (piece: Buffer) => void, done: (err?: Error) => void) {
    this.text = text;
    this.onData = onData;
    this.done = done;
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.failed) return;
    try {
      this.onData(msg.chunk);
    } catch (err) {
      // The server goes on sending: the failure is reported once the exchange is over and the connection usable.
      this.failed = err as Error;
    }
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    this.settle(this.failed);
  }

  handleError(err: Error): void {
    this.settle(err);
  }

  handleRowDescription(): void {
    this.failed ??= new Error('copyOut: the statement returned rows, not a COPY');
  }

  handleDataRow(): void {}

  handleEmptyQuery(): void {
    this.failed ??= new Error('copyOut: empty statement');
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(): void {
    this.failed ??= new Error('copyOut: the statement is a COPY FROM');
  }

  private settle(err: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.done(err);
  }
}

/** Runs a COPY ... TO STDOUT on `client`, handing each piece of its output to `onData` in order. */
export function copyOut(client: pg.PoolClient | pg.Client, text: string, onData: (piece: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    client.query(new CopyOutQuery(text, onData, (err) => (err ? reject(err) : resolve())) as unknown as pg.QueryConfig);
  });
}

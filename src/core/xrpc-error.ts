// A refusal of a request, named as XRPC names errors (`{error, message}` with its HTTP status). Services throw it;
// the HTTP layer sends it as it is; the CLI and clients show it.

export class XrpcError extends Error {
  readonly status: number;
  readonly error: string;

  constructor(status: number, error: string, message: string) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

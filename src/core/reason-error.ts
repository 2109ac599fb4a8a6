// An error that carries a machine-readable reason beside its message: the decoders' and resolvers' refusals, whose
// reason becomes a rejection's label in the counters and logs, and whose message is its detail.

export class ReasonError<R extends string = string> extends Error {
  readonly reason: R;

  constructor(reason: R, message: string) {
    super(message);
    this.reason = reason;
    this.name = new.target.name;
  }
}

// JSON Schemas that carry their TypeScript type: one declaration gives Fastify the schema it validates a request
// with and gives handlers, the CLI and clients the type of what passed.

export interface Schema<T> {
  readonly json: Record<string, unknown>;
  /** Never set: carries T for Infer. */
  readonly type?: T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Props = Record<string, Schema<unknown>>;
type Optional<P extends Props, K extends keyof P> = { [k in Exclude<keyof P, K>]: Infer<P[k]> } & { [k in K]?: Infer<P[k]> };
type Flat<T> = { [k in keyof T]: T[k] };

const schema = <T>(json: Record<string, unknown>): Schema<T> => ({ json });

export const s = {
  string: (o: { minLength?: number; maxLength?: number } = {}) => schema<string>({ type: 'string', ...o }),
  integer: (o: { minimum?: number; maximum?: number } = {}) => schema<number>({ type: 'integer', ...o }),
  boolean: () => schema<boolean>({ type: 'boolean' }),
  literal: <const V extends readonly string[]>(...values: V) => schema<V[number]>({ type: 'string', enum: values }),
  array: <T>(items: Schema<T>, o: { minItems?: number; maxItems?: number } = {}) => schema<T[]>({ type: 'array', items: items.json, ...o }),
  nullable: <T>(inner: Schema<T>) => schema<T | null>({ anyOf: [inner.json, { type: 'null' }] }),
  /** An object with exactly these properties; those named in `optional` may be left out. */
  object: <P extends Props, K extends keyof P = never>(props: P, o: { optional?: readonly K[] } = {}) =>
    schema<Flat<Optional<P, K>>>({
      type: 'object',
      properties: Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v.json])),
      required: Object.keys(props).filter((k) => !(o.optional ?? []).includes(k as K)),
      additionalProperties: false,
    }),
};

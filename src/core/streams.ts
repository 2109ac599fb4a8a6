// What operators see of one stream connection (a firehose consumer or a Jetstream subscriber), shared by the
// process serving it and the admin API's contract.

/** What operators see of a stream connection (relay consumers, the console). */
export interface StreamView {
  /** firehose (subscribeRepos) or jetstream (/subscribe). */
  kind: 'firehose' | 'jetstream';
  remoteAddress: string;
  connectedAt: string;
  state: string;
  sentSeq: number;
  lag: number;
  bufferedBytes: number;
  peakBufferedBytes: number;
  /** What a Jetstream subscriber asked for ('all' for the firehose), and whether it reads zstd. */
  filters: string;
  compressed?: boolean;
}

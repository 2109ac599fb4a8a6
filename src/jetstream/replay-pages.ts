// The log's pages as Jetstream subscribers behind live read them: the firehose's shared pages (firehose/log-pages.ts),
// each converted to Jetstream messages once for every subscriber that reads it. A page is the same WireBatch object
// for every reader that shares it, so the conversion is kept beside it, and goes when the page does.
import type { LogPages } from '../firehose/log-pages.ts';
import type { WireBatch } from '../firehose/wire-batch.ts';
import type { RelayMetrics } from '../metrics.ts';
import { JetstreamBatch } from './batch.ts';
import type { Compressor } from './compression.ts';

export interface ReplayPage {
  /** Every message in (from, upTo]: those at or before the subscriber's place are its to skip (`indexAfter`). */
  batch: JetstreamBatch;
  upTo: number;
  /** The seq of the page's first event after `seq`, message or not (undefined: none). */
  firstAfter(seq: number): number | undefined;
}

export class ReplayPages {
  private readonly converted = new WeakMap<WireBatch, JetstreamBatch>();
  private readonly o: { pages: LogPages; compressor: Compressor; metrics: Pick<RelayMetrics, 'jetstreamConverted' | 'jetstreamLost'> };

  constructor(o: ReplayPages['o']) {
    this.o = o;
  }

  async read(after: number, upTo: number): Promise<ReplayPage> {
    const { pages, compressor, metrics } = this.o;
    const page = await pages.read(after, upTo);
    let batch = this.converted.get(page.wire);
    if (!batch) {
      // Not framed whole: a filtered subscriber frames (and compresses, once per message) only what it selects.
      batch = new JetstreamBatch(page.wire.events, { compressor, shared: false, lost: (why) => metrics.jetstreamLost.inc({ reason: why }) });
      metrics.jetstreamConverted.inc(batch.messages.length);
      this.converted.set(page.wire, batch);
    }
    return { batch, upTo: page.upTo, firstAfter: (seq) => page.wire.seqAfter(seq) };
  }
}

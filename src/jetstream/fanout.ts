// Live Jetstream delivery: one sink on the firehose hub that turns each committed run into Jetstream messages once
// (only while someone subscribes) and hands the same batch to every live subscriber.
import type { RelayMetrics } from '../metrics.ts';
import type { LiveSink } from '../firehose/hub.ts';
import type { WireBatch } from '../firehose/wire-batch.ts';
import { JetstreamBatch } from './batch.ts';
import type { Compressor } from './compression.ts';
import type { JetstreamSubscriber, LiveSet } from './subscriber.ts';

export class JetstreamFanout implements LiveSink, LiveSet {
  private readonly live = new Set<JetstreamSubscriber>();
  private readonly opts: { compressor: Compressor; metrics: RelayMetrics };

  constructor(opts: { compressor: Compressor; metrics: RelayMetrics }) {
    this.opts = opts;
  }

  add(s: JetstreamSubscriber): void {
    this.live.add(s);
  }

  remove(s: JetstreamSubscriber): void {
    this.live.delete(s);
  }

  deliver(wire: WireBatch): void {
    if (this.live.size === 0) return;
    const { metrics, compressor } = this.opts;
    const batch = new JetstreamBatch(wire.events, { compressor, shared: true, lost: (why) => metrics.jetstreamLost.inc({ reason: why }) });
    metrics.jetstreamConverted.inc(batch.messages.length);
    for (const s of this.live) {
      try {
        s.deliver(batch);
      } catch (err) {
        this.live.delete(s);
        s.failed(err);
      }
    }
  }
}

// The usual end-to-end setup: a fake PLC, fake PDS hosts, and a relay on a fresh database crawling them.
import type { RelayConfig } from '../../src/config/config.ts';
import type { RelayOverrides } from '../../src/relay.ts';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from './db.ts';
import { crawlAndConnect, startTestRelay, type TestRelay } from './relay.ts';

export interface World {
  plc: FakePlc;
  hosts: FakePds[];
  relay: TestRelay;
  close(): Promise<void>;
}

export async function startWorld(
  opts: { hosts?: number; config?: Partial<RelayConfig>; overrides?: RelayOverrides } = {},
): Promise<World> {
  const plc = await FakePlc.start();
  const hosts: FakePds[] = [];
  for (let i = 0; i < (opts.hosts ?? 1); i++) hosts.push(await FakePds.start({ plc }));
  const relay = await startTestRelay({ databaseUrl: await createTestDatabase(), plcUrl: plc.url, ...opts.config }, opts.overrides);
  for (const h of hosts) await crawlAndConnect(relay, h.hostname);
  return {
    plc,
    hosts,
    relay,
    async close() {
      await relay.stop();
      for (const h of hosts) await h.close();
      await plc.close();
    },
  };
}

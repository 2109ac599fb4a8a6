// Fake PLC directory child process: serves the DID documents the fleet processes create (sent via the parent),
// behaving as the JSON PlcBehaviour in argv[2] says (latency, jitter, rate limit), if given.
import { FakePlc, type PlcBehaviour } from '../../dev-env/fake-plc.ts';
import type { PlcCommand, PlcReply } from '../lib/protocol.ts';

const plc = await FakePlc.start(process.argv[2] ? (JSON.parse(process.argv[2]) as Partial<PlcBehaviour>) : {});
const send = (m: PlcReply) => process.send!(m);
process.on('message', (msg: PlcCommand) => {
  if (msg.cmd === 'docs') {
    for (const [did, doc] of msg.docs) plc.setDocument(did, doc);
    send({ type: 'stored', count: msg.docs.length });
  } else if (msg.cmd === 'stats') {
    send({ type: 'stats', requests: plc.requestCount, rateLimited: plc.rateLimitedCount });
  } else {
    void plc.close().then(() => process.exit(0));
  }
});
send({ type: 'ready', url: plc.url });

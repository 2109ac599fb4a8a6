// Fake PLC directory child process: serves the DID documents the fleet processes create (sent via the parent).
import { FakePlc } from '../../dev-env/fake-plc.ts';
import type { PlcCommand, PlcReply } from '../lib/protocol.ts';

const plc = await FakePlc.start();
const send = (m: PlcReply) => process.send!(m);
process.on('message', (msg: PlcCommand) => {
  if (msg.cmd === 'docs') {
    for (const [did, doc] of msg.docs) plc.setDocument(did, doc);
    send({ type: 'stored', count: msg.docs.length });
  } else {
    void plc.close().then(() => process.exit(0));
  }
});
send({ type: 'ready', url: plc.url });

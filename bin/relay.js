#!/usr/bin/env node
// The relay runs its TypeScript sources through Node's own type stripping (Node 24 LTS): no loader, no build step.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `relay: this is Node ${process.versions.node}; the relay needs Node 24 LTS or newer.\n` +
      '  npm start (or npm run relay -- <command>) runs it on the Node 24 that npm install put in node_modules/.bin.\n',
  );
  process.exit(1);
}
await import('../src/cli/main.ts');

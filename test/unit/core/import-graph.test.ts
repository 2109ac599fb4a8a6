// The folders of src/ form no import cycle, and nothing outside test/ imports from it (scripts/import-graph.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importGraph } from '../../../scripts/import-graph.ts';

const dir = mkdtempSync(join(tmpdir(), 'relay-graph-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), text);
}

describe('import graph', () => {
  it('of this repository has no cycle between src/ folders and no import of test/ from outside it', () => {
    const graph = importGraph();
    expect(graph.cycles).toEqual([]);
    expect(graph.testImports).toEqual([]);
    // The layers the architecture describes: core at the bottom, the composition root on top.
    expect(graph.edges.get('core')).toBeUndefined();
    expect([...graph.edges.get('relay')!]).toEqual(expect.arrayContaining(['ingest', 'pipeline', 'sequencer', 'firehose', 'api', 'services']));
    expect(graph.edges.get('ingest')?.has('pipeline')).toBe(false);
  });

  it('finds a cycle, type imports and dynamic imports included, and an import of test/', () => {
    write('src/a/x.ts', "import type { Y } from '../b/y.ts';\nexport type X = Y;\n");
    write('src/b/y.ts', "export type Y = number;\nexport const later = () => import('../c/z.ts');\n");
    write('src/c/z.ts', "export { X } from '../a/x.ts';\n");
    write('src/top.ts', "import '../test/helper.ts';\n");
    const graph = importGraph(dir);
    expect(graph.cycles).toEqual([['a', 'b', 'c']]);
    expect(graph.testImports).toEqual(['src/top.ts -> test/helper.ts']);
  });
});

// Prints how the folders of src/ import each other and fails (exit 1) on a cycle between them, or on a file outside
// test/ that imports from test/. Type-only imports count: a cycle of types is still a cycle of knowledge.
//   node scripts/import-graph.ts
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SPECIFIER = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'public' ? [] : files(path);
    return /\.(ts|js)$/.test(e.name) ? [path] : [];
  });
}

/** Relative imports of a file, resolved to paths under `root`. */
function imports(root: string, file: string): string[] {
  const out: string[] = [];
  for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (spec.startsWith('.')) out.push(relative(root, resolve(dirname(file), spec)));
  }
  return out;
}

/** src/<folder>/… is that folder; a file directly under src/ is its own node (relay, metrics). */
function folderOf(path: string): string | null {
  const parts = path.split(sep);
  if (parts[0] !== 'src' || parts.length < 2) return null;
  return parts.length === 2 ? parts[1]!.replace(/\.(ts|js)$/, '') : parts[1]!;
}

export interface ImportGraph {
  /** folder -> the folders it imports from. */
  edges: Map<string, Set<string>>;
  /** Sets of folders that import each other in a circle. */
  cycles: string[][];
  /** `file -> imported` for files outside test/ that import from test/. */
  testImports: string[];
}

export function importGraph(root = ROOT): ImportGraph {
  const edges = new Map<string, Set<string>>();
  const testImports: string[] = [];
  for (const top of ['src', 'dev-env', 'bench', 'scripts', 'bin']) {
    let all: string[];
    try {
      all = files(join(root, top));
    } catch {
      continue;
    }
    for (const file of all) {
      const from = relative(root, file);
      for (const target of imports(root, file)) {
        if (target.split(sep)[0] === 'test') testImports.push(`${from} -> ${target}`);
        const a = folderOf(from);
        const b = folderOf(target);
        if (!a || !b || a === b) continue;
        if (!edges.has(a)) edges.set(a, new Set());
        edges.get(a)!.add(b);
      }
    }
  }
  return { edges, cycles: stronglyConnected(edges).filter((c) => c.length > 1), testImports };
}

/** Tarjan's strongly connected components. */
function stronglyConnected(edges: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const nodes = new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])]);
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      out.push(component.sort());
    }
  };
  for (const v of [...nodes].sort()) if (!index.has(v)) visit(v);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { edges, cycles, testImports } = importGraph();
  for (const [from, to] of [...edges].sort(([a], [b]) => a.localeCompare(b))) console.log(`${from} -> ${[...to].sort().join(', ')}`);
  for (const c of cycles) console.error(`cycle between src/ folders: ${c.join(' <-> ')}`);
  for (const t of testImports) console.error(`imports test/ from outside it: ${t}`);
  if (cycles.length > 0 || testImports.length > 0) process.exit(1);
}

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCycles, importEdges, listTsFiles, type ImportEdge } from '../support/import-graph.js';

// The layers point one way: domain ← db/queue/events/tasks/… ← api | workers ← cli. The domain holds
// what both the API and the workers must agree on; nothing below the API may reach up into it, and the
// API and the workers meet only through the layers under them.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The composition roots: they start the workers or build the sandbox image, so they may name workers/. */
const COMPOSITION_ROOTS = new Set(['src/cli/commands/serve.ts', 'src/cli/commands/sandbox.ts']);

/** Layers under the API: none of them may import it. */
const LOWER_LAYERS = [
  'src/domain/',
  'src/db/',
  'src/queue/',
  'src/tasks/',
  'src/workspaces/',
  'src/observability/',
  'src/events/',
  'src/config/',
  'src/net/',
  'src/auth/',
  'src/webhooks/',
  'src/util/',
  'src/crypto/',
];

/** The only package the domain may use. */
const DOMAIN_PACKAGES = new Set(['zod']);

const describeEdge = (edge: ImportEdge) => `${edge.from} imports '${edge.specifier}'${edge.to !== null ? ` (${edge.to})` : ''}`;
const pointsInto = (edge: ImportEdge, prefix: string) => edge.to !== null && edge.to.startsWith(prefix);

/** Every import that breaks a layering rule, named by file and specifier. */
export function layeringViolations(edges: readonly ImportEdge[]): string[] {
  const found: string[] = [];
  for (const edge of edges) {
    if (edge.from.startsWith('src/') && !COMPOSITION_ROOTS.has(edge.from) && pointsInto(edge, 'workers/')) {
      found.push(`src/ must not import workers/: ${describeEdge(edge)}`);
    }
    if (edge.from.startsWith('workers/') && pointsInto(edge, 'src/api/')) {
      found.push(`workers/ must not import src/api/: ${describeEdge(edge)}`);
    }
    if (edge.from.startsWith('src/domain/')) {
      const outside = edge.to === null ? !DOMAIN_PACKAGES.has(edge.specifier) : !edge.to.startsWith('src/domain/');
      if (outside) found.push(`src/domain/ imports only src/domain/ and zod: ${describeEdge(edge)}`);
    }
    if (LOWER_LAYERS.some((layer) => edge.from.startsWith(layer)) && pointsInto(edge, 'src/api/')) {
      found.push(`layers under the API must not import src/api/: ${describeEdge(edge)}`);
    }
    if (!edge.from.startsWith('src/cli/') && pointsInto(edge, 'src/cli/')) {
      found.push(`only src/cli/ imports src/cli/: ${describeEdge(edge)}`);
    }
  }
  return found;
}

describe('the import graph of src/ and workers/', () => {
  const files = listTsFiles(repoRoot, ['src', 'workers']);
  const edges = importEdges(repoRoot, files);

  it('is read from every file, type-only imports included', () => {
    expect(files.length).toBeGreaterThan(150);
    // Known edges, one of them type-only, so a parser that saw nothing could not pass the rules below.
    expect(edges).toContainEqual({ from: 'src/api/app.ts', specifier: './errors.js', to: 'src/api/errors.ts' });
    expect(edges.some((e) => e.from === 'src/tasks/resume.ts' && e.to === 'src/db/client.ts')).toBe(true);
    expect(files).toContain('src/domain/task-status.ts');
  });

  it('points one way: domain ← lower layers ← api | workers ← cli', () => {
    expect(layeringViolations(edges)).toEqual([]);
  });

  it('has no import cycle, type-only imports included', () => {
    expect(importCycles(edges).map((cycle) => cycle.join(' ↔ '))).toEqual([]);
  });
});

describe('the layering checker', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'aicli-layering-'));
    const write = async (file: string, text: string) => {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    };
    await write('src/domain/a.ts', "import type { B } from '../db/b.js';\nimport { z } from 'zod';\nimport { x } from 'node:fs';\nexport type A = B;\n");
    await write('src/db/b.ts', "export type B = number;\nexport const load = () => import('../api/c.js');\n");
    await write('src/api/c.ts', "export * from '../db/b.js';\nimport '../../workers/w.js';\n");
    await write('workers/w.ts', "export { c } from '../src/api/c.js';\nimport '../src/cli/commands/serve.js';\n");
    // A composition root may start the workers.
    await write('src/cli/commands/serve.ts', "import '../../../workers/w.js';\n");
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names each offending import, type-only, re-exported and dynamic ones included', () => {
    const edges = importEdges(dir, listTsFiles(dir, ['src', 'workers']));
    expect(layeringViolations(edges)).toEqual([
      "src/ must not import workers/: src/api/c.ts imports '../../workers/w.js' (workers/w.ts)",
      "layers under the API must not import src/api/: src/db/b.ts imports '../api/c.js' (src/api/c.ts)",
      "src/domain/ imports only src/domain/ and zod: src/domain/a.ts imports '../db/b.js' (src/db/b.ts)",
      "src/domain/ imports only src/domain/ and zod: src/domain/a.ts imports 'node:fs'",
      "workers/ must not import src/api/: workers/w.ts imports '../src/api/c.js' (src/api/c.ts)",
      "only src/cli/ imports src/cli/: workers/w.ts imports '../src/cli/commands/serve.js' (src/cli/commands/serve.ts)",
    ]);
  });

  it('finds a cycle closed by a dynamic import and a re-export', () => {
    const edges = importEdges(dir, listTsFiles(dir, ['src', 'workers']));
    expect(importCycles(edges)).toEqual([['src/api/c.ts', 'src/cli/commands/serve.ts', 'src/db/b.ts', 'workers/w.ts']]);
  });
});

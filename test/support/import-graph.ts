import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One import as written in a file, with the repository file it names (`null` for a package or a node builtin). */
export interface ImportEdge {
  from: string;
  specifier: string;
  to: string | null;
}

/** Every `.ts` file under the given directories, as paths relative to `root` with `/` separators. */
export function listTsFiles(root: string, dirs: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (relative: string) => {
    for (const entry of readdirSync(path.join(root, relative), { withFileTypes: true })) {
      const child = `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(child);
    }
  };
  for (const dir of dirs) walk(dir);
  return files.sort();
}

/**
 * The imports of each file: static, type-only, re-exports and dynamic `import()`, as the compiler's own
 * pre-processor finds them. Relative specifiers are resolved the way NodeNext resolves our `.js` spellings.
 */
export function importEdges(root: string, files: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const text = readFileSync(path.join(root, from), 'utf8');
    const { importedFiles } = ts.preProcessFile(text, true, true);
    for (const { fileName: specifier } of importedFiles) {
      edges.push({ from, specifier, to: specifier.startsWith('.') ? resolveRelative(root, from, specifier) : null });
    }
  }
  return edges;
}

function resolveRelative(root: string, from: string, specifier: string): string {
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  const candidates = [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, `${target}/index.ts`];
  for (const candidate of candidates) {
    if (isFile(path.join(root, candidate))) return candidate;
  }
  // Unresolvable: keep the spelling, so a rule on the path still sees where it points.
  return target;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Every import cycle among the files, each as the list of files in it (Tarjan's strongly connected components). */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (to === null) continue;
    if (!next.has(from)) next.set(from, new Set());
    next.get(from)?.add(to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let counter = 0;

  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of next.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(target) ?? 0));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(target) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    const selfLoop = next.get(node)?.has(node) ?? false;
    if (component.length > 1 || selfLoop) cycles.push(component.sort());
  };

  for (const node of next.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The built console (dist/console, made by `npm run build`): index.html and the hashed files under
 * assets/, read once into memory. Found from the repository root, so the API serves it the same whether
 * it runs from dist/ or from the sources (tests).
 */
export interface ConsoleBuild {
  indexHtml: string;
  assets: ReadonlyMap<string, { body: Uint8Array; contentType: string }>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

function repositoryRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('the console cannot find the repository root (no package.json above src/api/console)');
    dir = up;
  }
  return dir;
}

export const CONSOLE_DIST_DIR = path.join(repositoryRoot(), 'dist', 'console');

/** The build, or null when it was not built (the console then answers 503 with the fix). */
export function loadConsoleBuild(dir = CONSOLE_DIST_DIR): ConsoleBuild | null {
  const index = path.join(dir, 'index.html');
  if (!existsSync(index)) return null;
  const assets = new Map<string, { body: Uint8Array; contentType: string }>();
  const assetDir = path.join(dir, 'assets');
  for (const name of existsSync(assetDir) ? readdirSync(assetDir) : []) {
    const contentType = TYPES[path.extname(name)];
    if (contentType) assets.set(name, { body: new Uint8Array(readFileSync(path.join(assetDir, name))), contentType });
  }
  return { indexHtml: readFileSync(index, 'utf8'), assets };
}

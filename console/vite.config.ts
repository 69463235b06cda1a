import path from 'node:path';
import { defineConfig } from 'vite';

// The console: a Preact SPA built into dist/console, served by the API process at / (src/api/console/).
export default defineConfig({
  root: path.dirname(new URL(import.meta.url).pathname),
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: path.resolve(path.dirname(new URL(import.meta.url).pathname), '../dist/console'),
    emptyOutDir: true,
    // No inline script or style: the console's Content-Security-Policy allows files from this origin only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});

// Prints the node_modules paths of the production packages in package-lock.json (what
// `npm ci --omit=dev` installs), one a line, for scripts/images.sh to copy from this checkout.
// Fails naming the first one missing on disk; optional packages for other platforms may be absent.
import { existsSync, readFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const out = [];
for (const [path, pkg] of Object.entries(lock.packages ?? {})) {
  if (path === '' || pkg.dev || pkg.link) continue;
  if (!existsSync(path)) {
    if (pkg.optional || pkg.devOptional) continue;
    console.error(`${path} (in package-lock.json) is missing: run npm ci`);
    process.exit(1);
  }
  out.push(path);
}
// A nested package travels with its parent's folder: list only the outermost ones.
const listed = new Set(out);
const outermost = out.filter((p) => {
  for (let i = p.lastIndexOf('/node_modules/'); i > 0; i = p.lastIndexOf('/node_modules/', i - 1)) {
    if (listed.has(p.slice(0, i))) return false;
  }
  return true;
});
if (outermost.length === 0) {
  console.error('package-lock.json lists no production packages (lockfileVersion 2 or 3 needed): run npm install');
  process.exit(1);
}
process.stdout.write(`${outermost.join('\n')}\n`);

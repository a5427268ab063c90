// Bundles the `gage serve` front end (src/serve/web/) into one folder: app.js and app.css
// (minified, no source maps shipped to the browser), index.html and login.html. No CDN: the view
// works offline on a LAN.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const src = join(root, "src/serve/web");

/** Writes the front end to `outdir` (emptied first); returns the bytes of each file written. */
export async function buildWeb(outdir) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: "src/serve/web/main.tsx" },
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    minify: true,
    jsx: "automatic",
    jsxImportSource: "preact",
    metafile: true,
    logLevel: "warning",
  });
  for (const name of readdirSync(src)) if (name.endsWith(".html") || name.endsWith(".svg")) copyFileSync(join(src, name), join(outdir, name));
  return Object.fromEntries(Object.entries(result.metafile.outputs).map(([file, o]) => [file, o.bytes]));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = await buildWeb(process.argv[2] ?? join(root, "dist/web"));
  for (const [file, bytes] of Object.entries(sizes)) console.log(`${file} ${bytes}`);
}

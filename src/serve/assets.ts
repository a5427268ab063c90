import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  map: "application/json",
};

export interface WebAsset {
  bytes: Buffer;
  type: string;
  etag: string;
}

/** The front end, built by `scripts/web-bundle.mjs` (app.js, app.css, index.html, login.html), held in memory. */
export interface WebAssets {
  get(name: string): WebAsset | undefined;
  page(name: "index" | "login"): string;
}

/** Where `npm run build` puts the front end: dist/web, beside dist/bundle and dist/serve. */
export function defaultAssetsDir(): string {
  return fileURLToPath(new URL("../web/", import.meta.url));
}

export function loadAssets(dir: string): WebAssets {
  const assets = new Map<string, WebAsset>();
  const pages = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    const bytes = readFileSync(join(dir, name));
    const ext = name.slice(name.lastIndexOf(".") + 1);
    if (ext === "html") pages.set(name.slice(0, -5), bytes.toString("utf8"));
    else if (TYPES[ext]) assets.set(name, { bytes, type: TYPES[ext]!, etag: `"${createHash("sha256").update(bytes).digest("base64url").slice(0, 16)}"` });
  }
  for (const page of ["index", "login"]) if (!pages.has(page)) throw new Error(`The web assets in ${dir} lack ${page}.html: run 'npm run build'`);
  return { get: (name) => assets.get(name), page: (name) => pages.get(name)! };
}

#!/usr/bin/env node
// npm start [-- options]: Node 20 runs no TypeScript, so the simulator (sim/main.ts and what it imports,
// the Espruino emulation included) is bundled with esbuild into node_modules/.cache/mqtt-mcu-sim/ and
// imported from there (packages stay external and resolve from node_modules; build/*.mjs are imported
// in place, they find the project from their own location). See docs/simulator.md.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = join(ROOT, "node_modules/.cache/mqtt-mcu-sim");

/** Bundle sim/main.ts for Node; returns the file to import (named by its content, so runs side by side
 *  never overwrite each other's file). */
export async function compile() {
  let esbuild;
  try { esbuild = await import("esbuild"); } catch {
    throw Object.assign(new Error("esbuild is not installed: run `npm ci` first"), { user: true });
  }
  const inPlace = {
    name: "build-scripts-in-place",
    setup(b) {
      b.onResolve({ filter: /\/build\/[\w-]+\.mjs$/ }, (a) => ({ path: pathToFileURL(resolve(a.resolveDir, a.path)).href, external: true }));
    },
  };
  const r = await esbuild.build({
    entryPoints: [join(ROOT, "sim/main.ts")],
    bundle: true, platform: "node", format: "esm", target: "node20", packages: "external",
    define: { __SERVER__: "false" }, plugins: [inPlace], write: false, logLevel: "silent", sourcemap: "inline",
  });
  const code = r.outputFiles[0].text, file = join(CACHE, `main-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, file);
  }
  return file;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let mod;
  process.setSourceMapsEnabled(true); // stack traces name sim/*.ts lines
  try {
    mod = await import(pathToFileURL(await compile()).href);
  } catch (e) {
    process.stderr.write(`npm start: ${e.user ? e.message : e.errors ? "cannot bundle the simulator:\n" + e.message : e.stack || e}\n`);
    process.exit(1);
  }
  await mod.main(process.argv.slice(2));
}

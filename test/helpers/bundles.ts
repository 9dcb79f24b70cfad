// Fresh bundles for the bundle tests, built by the project's own pipeline (build/build.mjs `bundle()`:
// esbuild -> swc ES5 -> minify) into a temp dir, so a test never reads a stale dist/ or races another
// process rewriting it. test/bundle/gate.test.ts checks dist/ itself.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** build/build.mjs (plain JS: imported by URL, typed loosely) */
export async function buildModule(): Promise<{
  bundle(o: { entry: string; out: string; define?: Record<string, unknown>; alias?: Record<string, string>; minify?: boolean; module?: boolean }): Promise<string>;
  BUDGETS: Record<string, number>;
  boardNames(): string[];
  keywords(code: string): string;
}> {
  const url: string = pathToFileURL(join(ROOT, "build/build.mjs")).href;
  return await import(url);
}

let tmp: string | null = null;
function outDir() {
  if (!tmp) {
    tmp = mkdtempSync(join(tmpdir(), "mqtt-mcu-bundle-"));
    const dir = tmp;
    process.on("exit", () => rmSync(dir, { recursive: true, force: true })); // tests leave nothing behind
  }
  return tmp;
}

let core: Promise<string> | null = null;
/** dist/mqtt-mcu.core.js as `npm run build` makes it (built once per test process) */
export function coreBundle(): Promise<string> {
  return core || (core = (async () => {
    const b = await buildModule(), out = join(outDir(), "mqtt-mcu.core.js");
    // module: top-level code, as build/build.mjs makes dist/mqtt-mcu.core.js (not wrapped in an IIFE)
    await b.bundle({ entry: "src/core.ts", out, module: true });
    return readFileSync(out, "utf8");
  })());
}

/** dist/<board>.js built for the device config `configFile` (and `secretsFile`) */
export async function firmwareBundle(board: string, configFile: string, secretsFile?: string): Promise<string> {
  const b = await buildModule();
  const cfg: { firmwareDefines(board: string, o: { file?: string; secrets?: string }): Record<string, unknown> } =
    await import(pathToFileURL(join(ROOT, "build/config.mjs")).href);
  const out = join(outDir(), `${board}-${Date.now()}.js`);
  await b.bundle({
    entry: "src/app/main.ts", out,
    alias: { board: join(ROOT, "boards", board + ".ts") },
    define: cfg.firmwareDefines(board, { file: configFile, secrets: secretsFile }),
  });
  return readFileSync(out, "utf8");
}

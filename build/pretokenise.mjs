// Espruino's pretokenised form of a bundle: what Espruino's own tools store when their "Pretokenise"
// setting is on. Reserved words and operators become one byte each (0x8A..), string literals become raw
// strings (0xD1 length bytes: no quotes, no escapes) and integers raw integers. Espruino 2v29 reads it
// from any string, so from a file in Storage, on every board (ESP8266 included: reading is not behind
// ESPR_NO_PRETOKENISE, only making it). What it buys, measured (docs/performance.md): fewer bytes of
// Storage, less text for the interpreter to read at every call, and raw string literals longer than a
// block stay in flash when the code runs from Storage (a quoted literal is copied into RAM).
// The tokeniser is the espruino CLI's own plugin (node_modules/espruino/plugins/pretokenise.js), run
// here with the parts of the CLI it asks for; nothing of it goes into a bundle.
import vm from "node:vm";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import * as acorn from "acorn";

const ROOT = join(import.meta.dirname, "..");
let plugin = null;

function load() {
  if (plugin) return plugin;
  const file = createRequire(join(ROOT, "package.json")).resolve("espruino/plugins/pretokenise.js");
  // PRETOKENISE 2: every option (raw strings and integers), as for Espruino 2v26 and later
  const ctx = { acorn, console, Espruino: { Plugins: {}, Core: { Env: { getBoardData: () => ({}) }, Utils: {} }, Config: { PRETOKENISE: 2 } } };
  vm.createContext(ctx);
  vm.runInContext(readFileSync(file, "utf8"), ctx, { filename: file });
  plugin = ctx.Espruino.Plugins.Pretokenise;
  if (!plugin || !plugin.tokenise) throw new Error("the espruino CLI's pretokenise plugin did not load from " + file);
  return plugin;
}

/** ES5 source -> Espruino's pretokenised form, a binary string (one char per byte). */
export function pretokenise(code) {
  return load().tokenise(code);
}

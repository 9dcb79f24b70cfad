#!/usr/bin/env node
// npm run build [-- --board NAME] [--config device.json] [--secrets secrets.json] [--quiet]
// esbuild bundles each entry (target es2017, IIFE), @swc/core lowers it to ES5 and minifies,
// then the size table is printed. Output: dist/<board>.js and dist/mqtt-mcu.core.js.
import * as esbuild from "esbuild";
import swc from "@swc/core";
import { mkdirSync, writeFileSync, existsSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import * as acorn from "acorn";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BUDGETS, STORAGE, storageFit } from "./gate.mjs";
import { pretokenise } from "./pretokenise.mjs";
import { manglePattern, renameKeys } from "./mangle.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = join(ROOT, "dist");

/** Size budgets in bytes (minified): build/gate.mjs holds and enforces them; shown here. */
export { BUDGETS };

/** The boards: one file each in boards/, and their pins in boards/pins.json. */
export function boardNames() {
  return Object.keys(JSON.parse(readFileSync(join(ROOT, "boards/pins.json"), "utf8"))).filter((b) => !b.startsWith("_")).sort();
}

// swc: ES5, loose, and assumptions that keep iterator/Symbol helpers out.
const SWC = {
  jsc: {
    parser: { syntax: "ecmascript" },
    target: "es5",
    loose: true,
    externalHelpers: false,
    assumptions: {
      iterableIsArray: true, arrayLikeIsIterable: true, noDocumentAll: true, noClassCalls: true,
      setPublicClassFields: true, setSpreadProperties: true, constantSuper: true, noNewArrows: true,
      ignoreFunctionLength: true, ignoreToPrimitiveHint: true, skipForOfIteratorClosing: true,
      mutableTemplateObject: true, superIsCallableConstructor: true, setComputedProperties: true,
    },
    minify: {
      // reduce_vars off and inline 0: swc would otherwise inline a function called once as an IIFE in its
      // caller, `(function(p){...})(x)`, which allocates a closure on every call (encode in write,
      // decode, matches...). It costs ~170 bytes; allocation-light is a project rule.
      compress: { passes: 3, ecma: 5, toplevel: true, unsafe_arrows: false, reduce_vars: false, inline: 0 },
      mangle: { toplevel: true },
      format: { asciiOnly: true, comments: false },
    },
  },
  minify: true,
  isModule: false,
  sourceMaps: false,
};

/**
 * The Home Assistant entities of a config as the code of module "device-ha": each entity is returned by
 * its own case, so its texts are evaluated (copied into RAM on Espruino) only when it is announced,
 * where data compiled into the config would sit in RAM for as long as the device runs.
 */
function entityModule(entities = []) {
  return "export function entity(i) {\n  switch (i) {\n" +
    entities.map((e, i) => `    case ${i}: return ${JSON.stringify(e)};\n`).join("") + "  }\n  return null;\n}\n";
}

/**
 * Bundle one entry to ES5. `define` maps identifiers to JSON-able values (the device config: its Home
 * Assistant entities become module "device-ha"); `alias` maps module names (the board) to files.
 */
export async function bundle({ entry, out, define = {}, alias = {}, minify = true, module = false }) {
  // the client's optional parts are in, unless a firmware build says otherwise (firmwareDefines)
  const defs = { __SERVER__: "false", __QOS2__: "true", __HANDLERS__: "true", __API__: "true", __SERVERS__: "true", __ESPRUINO__: "false" };
  // the firmware's config: its Home Assistant entities become code (entityModule), the rest stays data
  let ha = entityModule();
  if (define.__CONFIG__ && define.__CONFIG__.ha) {
    ha = entityModule(define.__CONFIG__.ha.entities);
    define = { ...define, __CONFIG__: { ...define.__CONFIG__, ha: { prefix: define.__CONFIG__.ha.prefix } } };
  }
  // property names shortened (build/mangle.mjs): the core's own, and in a firmware build the client's API
  // and the firmware's; the config compiled in gets the same names as the code that reads it (a first
  // pass tells them)
  const firmware = !!define.__CONFIG__;
  const run = (cache) => esbuild.build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    // a module (the core library, loaded by require()) is top-level code: Espruino gives a module a scope
    // of its own, and a function inside a second scope (an IIFE) costs about 3 blocks more
    format: module ? "esm" : "iife",
    platform: "neutral",
    target: "es2017",
    write: false,
    define: defs,
    alias,
    mainFields: ["module", "main"],
    treeShaking: true,
    // inlines the exported constants (error codes, option defaults) where they are used: a constant
    // held by the module would sit in the device's RAM
    minifySyntax: true,
    legalComments: "none",
    logLevel: "silent",
    logOverride: { "commonjs-variable-in-esm": "silent" },
    plugins: [{
      name: "device-ha",
      setup(b) {
        b.onResolve({ filter: /^device-ha$/ }, () => ({ path: "device-ha", namespace: "device-ha" }));
        b.onLoad({ filter: /.*/, namespace: "device-ha" }, () => ({ contents: ha, loader: "js" }));
      },
    }],
    mangleProps: manglePattern(firmware),
    mangleCache: cache,
  });
  for (const k in define) defs[k] = JSON.stringify(define[k]);
  let r = await run({});
  if (firmware) {
    defs.__CONFIG__ = JSON.stringify(renameKeys(define.__CONFIG__, r.mangleCache));
    r = await run(r.mangleCache);
  }
  const es5 = await swc.transform(r.outputFiles[0].text, minify ? SWC : { ...SWC, minify: false, jsc: { ...SWC.jsc, minify: undefined } });
  // the engine's own require/exports, hidden from esbuild under sentinel names
  let code = keywords(es5.code.replace(/__REQUIRE__/g, "require").replace(/\bEXPORTS\b/g, "exports").trim()) + "\n";
  // The firmware's outer function is called with .call(this), not (): Espruino names each frame of an
  // exception's stack trace by its function, and an anonymous function called directly is named by its
  // whole text, copied into RAM: any exception thrown while the bundle loads, even one caught, would then
  // need a copy of the bundle (20 KB: out of memory on an ESP8266). Seen on the real 2v29.
  if (!module && /^("use strict";)?!function\(\)\{/.test(code) && code.endsWith("}();\n")) code = code.slice(0, -4) + ".call(this);\n";
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, code);
  return code;
}

/** `!0`, `!1` and `void 0` of the minifier back as `true`, `false` and `undefined`: in the form Espruino
 *  stores (pretokenised) a reserved word is one byte, where `!0` is two and `void 0` three. */
export function keywords(code) {
  const words = { "!0": "true", "!1": "false", "void 0": "undefined" };
  let out = "", last = 0, prev = null;
  for (const t of acorn.tokenizer(code, { ecmaVersion: 5 })) {
    if (prev && t.type.label == "num" && (t.value === 0 || t.value === 1) && t.end - t.start == 1 &&
      (prev.value == "!" && prev.type.label == "!/~" || prev.type.keyword == "void" && t.value === 0)) {
      const w = words[code.slice(prev.start, prev.end) + (prev.type.keyword ? " " : "") + t.value];
      // (a space where the word would run into a name or number before it: `return!0`)
      out += code.slice(last, prev.start) + (/[\w$]/.test(code[prev.start - 1] || "") ? " " : "") + w;
      last = t.end;
      prev = null;
      continue;
    }
    prev = t;
  }
  return out + code.slice(last);
}

// the bundles that run on Espruino, saved there pretokenised (build/flash.mjs): their stored size
const ESPRUINO_BUNDLES = ["mqtt-mcu.core.js", "esp32.js", "esp8266.js", "espruino-linux.js"];

export function sizeRow(name, code) {
  return { name, bytes: Buffer.byteLength(code), gzip: gzipSync(code, { level: 9 }).length, budget: BUDGETS[name],
    stored: ESPRUINO_BUNDLES.includes(name) ? pretokenise(code).length : null };
}

export function printTable(rows) {
  const pad = (s, n) => String(s).padStart(n);
  console.log("\n" + "bundle".padEnd(24) + pad("bytes", 8) + pad("gzip", 8) + pad("stored", 8) + pad("budget", 9) + "  Storage of the boards it runs on (as stored)");
  for (const r of rows) {
    const over = r.budget && r.stored > r.budget ? "OVER BUDGET  " : "";
    const fit = storageFit(r.name, r.stored || r.bytes).map((s) => s.board + (s.fits ? " fits" : " TOO BIG")).join(", ") || "-";
    console.log(r.name.padEnd(24) + pad(r.bytes, 8) + pad(r.gzip, 8) + pad(r.stored || "-", 8) + pad(r.budget || "-", 9) + "  " + over + fit);
  }
  console.log("Storage (saved_code in Espruino's board files): " + STORAGE.map((s) => `${s.board} ${s.bytes} B`).join(", ") +
    "; a bundle fits with its 32-B file header and 1,024 B kept for other files (build/gate.mjs). Stored: " +
    "pretokenised, as `npm run flash -- --save` saves it (build/pretokenise.mjs); an updatable device keeps text");
}

/** Build the core library and the requested boards. Returns the size rows. */
export async function buildAll({ boards, config, quiet } = {}) {
  const rows = [];
  mkdirSync(DIST, { recursive: true });
  // Node reads dist/*.js as CommonJS although the project is "type": "module"
  writeFileSync(join(DIST, "package.json"), '{ "type": "commonjs" }\n');
  rows.push(sizeRow("mqtt-mcu.core.js", await bundle({ entry: "src/core.ts", out: join(DIST, "mqtt-mcu.core.js"), module: true })));
  if (boards.length) {
    const { firmwareDefines } = await import("./config.mjs");
    for (const b of boards) {
      const file = join(ROOT, "boards", b + ".ts");
      const code = await bundle({
        entry: "src/app/main.ts",
        out: join(DIST, b + ".js"),
        alias: { board: file },
        define: firmwareDefines(b, config),
      });
      rows.push(sizeRow(b + ".js", code));
    }
  }
  if (!quiet) printTable(rows);
  return rows;
}

function parseArgs(argv) {
  const a = { boards: null, config: null, secrets: null, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--board") a.boards = [argv[++i]];
    else if (k === "--config") a.config = argv[++i];
    else if (k === "--secrets") a.secrets = argv[++i];
    else if (k === "--quiet") a.quiet = true;
    else throw new Error(`unknown argument ${k} (expected --board NAME, --config FILE, --secrets FILE, --quiet)`);
  }
  return a;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const a = parseArgs(process.argv.slice(2));
    const known = boardNames();
    if (a.boards && !known.includes(a.boards[0]))
      throw new Error(`unknown board "${a.boards[0]}": choose one of ${known.join(", ")}`);
    const hasApp = existsSync(join(ROOT, "src/app/main.ts"));
    await buildAll({ boards: hasApp ? a.boards || known : [], config: { file: a.config, secrets: a.secrets }, quiet: a.quiet });
  } catch (e) {
    console.error("build failed: " + (e && e.message || e));
    process.exit(1);
  }
}

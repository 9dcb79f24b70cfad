#!/usr/bin/env node
// The bundle gate: node build/gate.mjs [FILE...] (default dist/*.js); exit 1 on any failure.
// Every bundle must run on Espruino, JerryScript and Duktape as built, so each file is checked for:
//  - es5:      it parses as ES5 (acorn, ecmaVersion 5); when it does not, the ES2015+ constructs are named;
//  - builtin:  no ES2015+ built-in, nor one Espruino lacks, is named anywhere in it (GLOBALS, STATICS,
//              METHODS, PROTOTYPES below);
//  - order:    nothing is used before its definition: Espruino hoists neither `function` nor `var`;
//  - size:     the file fits its budget (BUDGETS), minified bytes.
// Also a module: checkCode(code, name) and checkFile(path) return the problems found.
import * as acorn from "acorn";
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { pretokenise } from "./pretokenise.mjs";

/** Size budgets in bytes, issue #14: of each bundle as the board's Storage holds it, pretokenised (what
 *  `npm run flash -- --save` writes: build/pretokenise.mjs); the text's size is shown beside it. The
 *  budgets are there so the bundles fit the boards: esp8266.js (from examples/device.json) must fit the
 *  16 KB Storage of a 1 MB ESP8266 (a Sonoff) with room for other files (see STORAGE). (Met on
 *  2026-12-07: the property names of the bundles' own objects are shortened at build time, build/mangle.mjs,
 *  and the core writes its error codes as numbers.) */
export const BUDGETS = { "mqtt-mcu.core.js": 11000, "esp8266.js": 15000 };

/**
 * Storage (the "saved_code" flash area) of the Espruino boards we flash, from Espruino's board files
 * (github.com/espruino/Espruino at 6106910, 2026-02-24), 'saved_code' pages * page_size:
 *  - boards/ESP8266_BOARD.py (1 MB ESP8266, e.g. Sonoff):  4 pages * 4096  =  16,384 B
 *  - boards/ESP8266_4MB.py:                               48 pages * 4096  = 196,608 B
 *  - boards/ESP32.py:                                    224 pages * 4096  = 917,504 B
 *  - boards/LINUX.py has no saved_code: scripts/build_platform_config.py gives Linux its whole fake flash
 *    ('flash': 256 KB) in 1,024-byte pages                                 = 262,144 B
 * `bundles`: which bundles run on that board (the core library runs on all of them).
 */
export const STORAGE = [
  { board: "esp8266-1mb", bytes: 4 * 4096, bundles: ["esp8266.js"] },
  { board: "esp8266-4mb", bytes: 48 * 4096, bundles: ["esp8266.js"] },
  { board: "esp32", bytes: 224 * 4096, bundles: ["esp32.js"] },
  { board: "linux", bytes: 256 * 1024, bundles: ["espruino-linux.js"] },
];
// A file in Storage costs a 32-byte header (JsfFileHeader: 4-byte size + 28-byte name, src/jsflash.h) and
// is padded to 8 bytes at most (JSF_ALIGNMENT, src/jsutils.h: 4, or 8 on builds with 64-bit flash writes).
// Storage also holds other files: a Wifi.save() config (.wificfg, a few hundred bytes of JSON), the
// Linux build's filename table, a user's own; 1,024 bytes (with their headers) are kept for them.
const FILE_HEADER = 32, ALIGN = 8, OTHER_FILES = 1024;

/** the bytes a file of `bytes` takes in Storage with the room kept for other files */
export function storageNeed(bytes) {
  return Math.ceil(bytes / ALIGN) * ALIGN + FILE_HEADER + OTHER_FILES;
}

/** for the bundle `name` of `bytes`: each board it runs on, and whether it fits that board's Storage */
export function storageFit(name, bytes) {
  const core = name === "mqtt-mcu.core.js";
  return STORAGE.filter((s) => core || s.bundles.includes(name)).map((s) => ({ board: s.board, storage: s.bytes, fits: storageNeed(bytes) <= s.bytes }));
}

// ---- built-ins ----------------------------------------------------------------------------------------
// Named anywhere in a bundle, even behind a guard (`typeof Symbol`, swc's _type_of helper, a spread helper's
// Array.from), they are a failure: the code must need no such helper. Typed arrays (Uint8Array, DataView...)
// are allowed: Espruino, JerryScript 3 and Duktape have them.
/** globals from ES2015+ (Promise too: Duktape and ES5.1 JerryScript lack it) */
const GLOBALS = new Set(["Symbol", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Promise",
  "Proxy", "Reflect", "BigInt", "BigInt64Array", "BigUint64Array", "SharedArrayBuffer", "Atomics", "TextEncoder",
  "TextDecoder", "globalThis", "queueMicrotask", "structuredClone"]);
/** static members: ES2015+, plus Object.freeze (ES5, but Espruino lacks it) */
const STATICS = {
  Object: ["assign", "entries", "values", "fromEntries", "is", "setPrototypeOf", "getOwnPropertySymbols", "getOwnPropertyDescriptors", "freeze"],
  Array: ["from", "of"],
  String: ["raw", "fromCodePoint"],
  Number: ["isInteger", "isFinite", "isNaN", "isSafeInteger", "parseFloat", "parseInt", "EPSILON", "MAX_SAFE_INTEGER", "MIN_SAFE_INTEGER"],
  Math: ["trunc", "sign", "cbrt", "log2", "log10", "log1p", "expm1", "hypot", "imul", "clz32", "fround", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh"],
  ArrayBuffer: ["isView"],
};
/** ES2015+ methods, on any object (a property of our own with such a name counts too: rename it). `fill`
 *  and `find` are also missing from Duktape's typed arrays. */
const METHODS = new Set(["includes", "startsWith", "endsWith", "padStart", "padEnd", "repeat", "codePointAt", "normalize",
  "trimStart", "trimEnd", "matchAll", "replaceAll", "at", "find", "findIndex", "findLast", "findLastIndex", "flat",
  "flatMap", "fill", "copyWithin"]);
/** Espruino reads Array.prototype.x and String.prototype.x as undefined (its issue #159): use [].slice.call */
const PROTOTYPES = new Set(["Array", "String"]);

// ---- scopes --------------------------------------------------------------------------------------------
// ES5 has two kinds of scope: functions (and the program) hold var and function declarations and
// parameters; a catch clause holds its parameter.
function children(node, visit) {
  for (const k in node) {
    if (k === "loc" || k === "type") continue;
    const v = node[k];
    if (Array.isArray(v)) { for (const c of v) if (c && typeof c.type === "string") visit(c, k); }
    else if (v && typeof v.type === "string") visit(v, k);
  }
}
const isFn = (n) => n.type === "FunctionDeclaration" || n.type === "FunctionExpression";

function newScope(node, parent, kind) {
  return { node, parent, kind, names: new Map() };
}
/** the scope `var` and `function` declarations go to: the nearest function or program */
const varScope = (s) => (s.kind === "catch" ? varScope(s.parent) : s);

function declare(scope, id, kind, value) {
  if (!scope.names.has(id.name)) scope.names.set(id.name, { name: id.name, scope, kind, id, fns: [] });
  const b = scope.names.get(id.name);
  if (value && isFn(value)) b.fns.push(value);
  return b;
}

/** Build the scopes: `scopeOf` maps each function, catch clause and the program to its scope; `refs` lists
 *  every identifier read or written, with the scope it appears in. */
function analyse(ast) {
  const scopeOf = new Map(), refs = [], members = [];
  function fnScope(fn, parent) {
    const s = newScope(fn, parent, "function");
    scopeOf.set(fn, s);
    if (fn.type === "FunctionExpression" && fn.id) declare(s, fn.id, "self", fn);
    for (const p of fn.params) declare(s, p, "param");
    walk(fn.body, s);
  }
  function walk(node, scope) {
    switch (node.type) {
      case "FunctionDeclaration": declare(varScope(scope), node.id, "function", node); return fnScope(node, scope);
      case "FunctionExpression": return fnScope(node, scope);
      case "VariableDeclarator": declare(varScope(scope), node.id, "var", node.init); if (node.init) walk(node.init, scope); return;
      case "CatchClause": {
        const s = newScope(node, scope, "catch");
        scopeOf.set(node, s);
        declare(s, node.param, "catch");
        return walk(node.body, s);
      }
      case "Identifier": refs.push({ node, scope }); return;
      case "MemberExpression": members.push({ node, scope }); walk(node.object, scope); if (node.computed) walk(node.property, scope); return;
      case "Property": if (node.computed) walk(node.key, scope); return walk(node.value, scope);
      case "LabeledStatement": return walk(node.body, scope);
      case "BreakStatement": case "ContinueStatement": return;
    }
    children(node, (c) => walk(c, scope));
  }
  const top = newScope(ast, null, "program");
  scopeOf.set(ast, top);
  children(ast, (c) => walk(c, top));
  return { scopeOf, refs, members };
}

function lookup(scope, name) {
  for (let s = scope; s; s = s.parent) if (s.names.has(name)) return s.names.get(name);
  return null;
}

// ---- use before definition -----------------------------------------------------------------------------
// Espruino defines a function or var only when execution reaches its declaration, at any level. So each
// scope is walked in execution order (statements in order, an expression's parts left to right) with the
// set of names defined so far, for the program and IIFEs as they run at load time, and for every function
// body as it runs whenever it is called. A reference to a name of a running scope that is not defined yet
// fails. Function bodies are not walked where they are written (they run later), but where they are called:
//  - an inline function called at once (IIFE, `fn.call(...)`, `new function(){}`) is walked in place;
//  - a call to a named function, to a var holding a function expression, to the method of an object literal
//    held in a var, or a callback handed to forEach/map/filter/some/every/reduce/reduceRight/sort/replace
//    checks every outer name that function uses when run (with all it calls, to a fixed point).
// Not followed (too dynamic to know, and they run later in practice): calls through other objects and
// prototypes, callbacks handed to anything else (setTimeout, event handlers). `typeof x` may name an
// undefined x.
const CALLBACKS = new Set(["forEach", "map", "filter", "some", "every", "reduce", "reduceRight", "sort", "replace"]);

function orderCheck(ast, an, report) {
  const { scopeOf } = an;

  /** the function (node) a callee expression evaluates to, when it can be known */
  function fnValue(expr, scope, depth = 0) {
    if (!expr || depth > 4) return null;
    if (isFn(expr)) return expr;
    if (expr.type === "Identifier") {
      const b = lookup(scope, expr.name);
      if (!b) return null;
      if (b.fns.length) return b.fns[b.fns.length - 1];
      const init = b.kind === "var" && declInit(b);
      return init && init.type === "Identifier" ? fnValue(init, b.scope, depth + 1) : null;
    }
    if (expr.type === "MemberExpression" && !expr.computed && expr.object.type === "Identifier") {
      const b = lookup(scope, expr.object.name), init = b && b.kind === "var" && declInit(b);
      if (init && init.type === "ObjectExpression")
        for (const p of init.properties) if (!p.computed && (p.key.name || p.key.value) === expr.property.name && isFn(p.value)) return p.value;
    }
    return null;
  }
  const inits = new Map();
  function declInit(b) {
    if (!inits.size) (function find(n) { if (n.type === "VariableDeclarator") inits.set(n.id, n.init); children(n, find); })(ast);
    return inits.get(b.id) || null;
  }

  /** the functions a call runs now: the callee, or the callbacks of an array method */
  function targets(call, scope) {
    const c = call.callee, out = [];
    const m = c.type === "MemberExpression" && !c.computed ? c.property.name : null;
    if (m === "call" || m === "apply") out.push(fnValue(c.object, scope));
    else out.push(fnValue(c, scope));
    if (m && CALLBACKS.has(m)) for (const a of call.arguments) out.push(fnValue(a, scope));
    return out.filter(Boolean);
  }

  /**
   * Walk `body` (a function's statements, or the program's) in execution order. `frames`: the running
   * scopes, innermost last, each with the names defined so far. `on.ref(binding, node, frames)` for each
   * reference, `on.call(fn, node, frames)` for each function a call runs (inline ones are walked in place).
   */
  function run(fnNode, frames, on) {
    const scope = scopeOf.get(fnNode), frame = { scope, defined: new Set() };
    if (isFn(fnNode)) { for (const p of fnNode.params) frame.defined.add(p.name); if (fnNode.id && fnNode.type === "FunctionExpression") frame.defined.add(fnNode.id.name); }
    frames = frames.concat(frame);
    const body = isFn(fnNode) ? fnNode.body.body : fnNode.body;
    for (const st of body) step(st, frames, on);
  }
  function define(frames, name) {
    for (let i = frames.length - 1; i >= 0; i--) if (frames[i].scope.kind !== "catch") return frames[i].defined.add(name);
  }
  function step(node, frames, on) {
    const scope = frames[frames.length - 1].scope;
    switch (node.type) {
      case "FunctionDeclaration": define(frames, node.id.name); return;
      case "FunctionExpression": return; // runs when called
      case "VariableDeclarator": define(frames, node.id.name); if (node.init) step(node.init, frames, on); return;
      case "CatchClause": {
        const frame = { scope: scopeOf.get(node), defined: new Set([node.param.name]) };
        return step(node.body, frames.concat(frame), on);
      }
      case "Identifier": {
        const b = lookup(scope, node.name);
        if (b) on.ref(b, node, frames);
        return;
      }
      case "UnaryExpression": if (node.operator === "typeof" && node.argument.type === "Identifier") return; break;
      case "MemberExpression": step(node.object, frames, on); if (node.computed) step(node.property, frames, on); return;
      case "Property": if (node.computed) step(node.key, frames, on); return step(node.value, frames, on);
      case "LabeledStatement": return step(node.body, frames, on);
      case "BreakStatement": case "ContinueStatement": return;
      case "CallExpression": case "NewExpression": {
        if (!isFn(node.callee)) step(node.callee, frames, on);
        for (const a of node.arguments) step(a, frames, on);
        // a function written in the call itself is walked in place; others are checked by what they use
        const c = node.callee, written = [c, c.object, ...node.arguments];
        for (const fn of targets(node, scope)) written.includes(fn) ? run(fn, frames, on) : on.call(fn, node, frames);
        return;
      }
    }
    children(node, (c) => step(c, frames, on));
  }

  // What each function uses when it runs: the outer names it references, and those of the functions it
  // calls, to a fixed point (recursion included).
  const fns = [...scopeOf.keys()].filter(isFn);
  const uses = new Map(), calls = new Map();
  for (const fn of fns) {
    const u = new Set(), c = new Set();
    run(fn, [], { ref: (b) => u.add(b), call: (g) => c.add(g) });
    uses.set(fn, u);
    calls.set(fn, c);
  }
  // only names from outside the function matter to its callers (its own are checked as it runs)
  const outside = (b, fn) => { for (let s = scopeOf.get(fn).parent; s; s = s.parent) if (s === b.scope) return true; return false; };
  for (const [fn, u] of uses) for (const b of [...u]) if (!outside(b, fn)) u.delete(b);
  for (let changed = true; changed;) {
    changed = false;
    for (const fn of fns) {
      const u = uses.get(fn);
      for (const g of calls.get(fn)) for (const b of uses.get(g)) if (!u.has(b) && outside(b, fn)) { u.add(b); changed = true; }
    }
  }

  const frameOf = (frames, scope) => frames.find((f) => f.scope === scope);
  const checker = {
    ref(b, node, frames) {
      const f = frameOf(frames, b.scope);
      if (f && !f.defined.has(b.name)) report(node, b, null);
    },
    call(fn, node, frames) {
      for (const b of uses.get(fn)) {
        const f = frameOf(frames, b.scope);
        if (f && !f.defined.has(b.name)) report(node, b, fn);
      }
    },
  };
  // load time: the program, with the IIFEs it runs; then each function body as it runs when called
  run(ast, [], checker);
  for (const fn of fns) run(fn, [], checker);
}

// ---- ES5 syntax: name what is not ES5 ------------------------------------------------------------------
function es2015(node) {
  switch (node.type) {
    case "VariableDeclaration": return node.kind !== "var" && `'${node.kind}' declaration`;
    case "ArrowFunctionExpression": return "arrow function";
    case "ClassDeclaration": case "ClassExpression": return "class";
    case "TemplateLiteral": return "template literal";
    case "TaggedTemplateExpression": return "tagged template";
    case "SpreadElement": return "spread (...)";
    case "RestElement": return "rest element (...)";
    case "ObjectPattern": case "ArrayPattern": return "destructuring";
    case "AssignmentPattern": return "default value";
    case "ForOfStatement": return "for-of";
    case "AwaitExpression": return "await";
    case "YieldExpression": return "yield";
    case "ChainExpression": return "optional chaining (?.)";
    case "MetaProperty": return `${node.meta.name}.${node.property.name}`;
    case "ImportExpression": case "ImportDeclaration": case "ExportNamedDeclaration": case "ExportDefaultDeclaration": case "ExportAllDeclaration": return "module syntax";
    case "CatchClause": return !node.param && "catch without a binding";
    case "LogicalExpression": case "BinaryExpression": case "AssignmentExpression":
      return ["??", "**", "??=", "||=", "&&=", "**="].includes(node.operator) && `operator ${node.operator}`;
    case "Property": return (node.shorthand && "shorthand property") || (node.method && "method shorthand") || (node.computed && "computed property name") || false;
    case "FunctionDeclaration": case "FunctionExpression": return (node.generator && "generator function") || (node.async && "async function") || false;
    case "Literal":
      if (node.bigint) return "BigInt literal";
      if (node.regex && /[uysdv]/.test(node.regex.flags)) return `regular expression flag (/${node.regex.flags})`;
      if (typeof node.value === "number" && /^0[bBoO]|_/.test(node.raw)) return "binary/octal literal or numeric separator";
      if (typeof node.value === "string" && /\\u\{/.test(node.raw)) return "\\u{...} escape";
  }
  return false;
}

// ---- the checks ----------------------------------------------------------------------------------------
/**
 * Check one bundle's code. `name` picks its budget from BUDGETS (or pass `budget`; 0 skips the size check),
 * which its stored size (pretokenised) must fit. Returns { bytes, stored (with a budget; else null), gzip,
 * budget, problems: [{ rule, line, col, message }] } (line/col 1-based; none for size).
 */
export function checkCode(code, name = "", { budget = BUDGETS[basename(name)] } = {}) {
  const problems = [], bytes = Buffer.byteLength(code), stored = budget ? pretokenise(code).length : null;
  const add = (rule, loc, message) => problems.push({ rule, line: loc ? loc.line : 0, col: loc ? loc.column + 1 : 0, message });
  if (budget && stored > budget) add("size", null, `${stored} B stored (${bytes} B of text) is ${stored - budget} B over its budget of ${budget} B`);

  let ast;
  try {
    ast = acorn.parse(code, { ecmaVersion: 5, sourceType: "script", locations: true });
  } catch (e) {
    // name the constructs when a newer parser understands the file
    let found = 0;
    try {
      (function find(n) {
        const what = es2015(n);
        if (what && found++ < 20) add("es5", n.loc.start, `${what} is not ES5`);
        if (what !== "destructuring") children(n, find); // its parts are not object literals
      })(acorn.parse(code, { ecmaVersion: "latest", sourceType: "script", locations: true }));
    } catch { /* not JavaScript at all: acorn's ES5 message below says where */ }
    if (!found) add("es5", e.loc, `not ES5: ${e.message.replace(/ \(\d+:\d+\)$/, "")}`);
    problems.push({ rule: "es5", line: 0, col: 0, message: "the other checks need ES5 and were skipped" });
    return { bytes, stored, gzip: gzipSync(code, { level: 9 }).length, budget, problems };
  }

  const an = analyse(ast);
  for (const { node, scope } of an.refs)
    if (GLOBALS.has(node.name) && !lookup(scope, node.name)) add("builtin", node.loc.start, `${node.name} (ES2015+) is not available on every target`);
  for (const { node, scope } of an.members) {
    const o = node.object, p = node.computed ? (node.property.type === "Literal" ? String(node.property.value) : null) : node.property.name;
    if (p == null) continue;
    const global = o.type === "Identifier" && !lookup(scope, o.name);
    if (global && STATICS[o.name] && STATICS[o.name].includes(p)) add("builtin", node.loc.start, `${o.name}.${p} is not available on every target`);
    else if (o.type === "MemberExpression" && !o.computed && o.property.name === "prototype" && o.object.type === "Identifier" &&
      PROTOTYPES.has(o.object.name) && !lookup(scope, o.object.name)) add("builtin", node.loc.start, `${o.object.name}.prototype.${p} reads as undefined on Espruino: use [].${p}.call / "".${p}.call`);
    else if (METHODS.has(p)) add("builtin", node.property.loc.start, `.${p}() is ES2015+ (not available on every target)`);
  }

  const where = (n) => `${n.loc.start.line}:${n.loc.start.column + 1}`;
  const reported = new Set();
  orderCheck(ast, an, (node, b, fn) => {
    const key = where(node) + b.name;
    if (reported.has(key)) return;
    reported.add(key);
    const what = `${b.kind === "function" ? "function" : "var"} ${b.name} (defined at ${where(b.id)})`;
    const callee = fn && code.slice(node.callee.start, node.callee.end);
    add("order", node.loc.start, fn
      ? `calls ${callee.length > 40 ? callee.slice(0, 37) + "..." : callee}, which runs code (at ${where(fn)}) that uses ${what} before that definition has run`
      : `uses ${what} before its definition has run (Espruino does not hoist)`);
  });
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return { bytes, stored, gzip: gzipSync(code, { level: 9 }).length, budget, problems };
}

export function checkFile(file, opts) {
  return checkCode(readFileSync(file, "utf8"), basename(file), opts);
}

/** one line per problem, `file:line:col: rule: message` */
export function format(file, r) {
  return r.problems.map((p) => `${file}${p.line ? `:${p.line}:${p.col}` : ""}: ${p.rule}: ${p.message}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  let files = process.argv.slice(2);
  if (!files.length) files = readdirSync(join(root, "dist")).filter((f) => f.endsWith(".js")).sort().map((f) => relative(process.cwd(), join(root, "dist", f)));
  let failed = 0;
  for (const f of files) {
    let r;
    try { r = checkFile(f); } catch (e) { console.error(`${f}: ${e.message}`); failed++; continue; }
    const fit = storageFit(basename(f), r.stored || r.bytes).map((s) => `${s.board} ${s.fits ? "yes" : "NO"}`).join(", ");
    console.log(`${f}: ${r.bytes} B${r.budget ? `, ${r.stored} B stored (budget ${r.budget})` : ""}, ${r.gzip} B gzip${fit ? `; fits Storage: ${fit}` : ""} — ${r.problems.length ? "FAIL" : "ok"}`);
    for (const line of format(f, r)) console.log("  " + line);
    if (r.problems.length) failed++;
  }
  process.exit(failed ? 1 : 0);
}

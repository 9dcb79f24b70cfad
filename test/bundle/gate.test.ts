// The bundle gate, build/gate.mjs: dist/ is rebuilt (`node build/build.mjs`, as `npm test` does), then every
// dist/*.js must pass it (ES5 syntax, no ES2015+ built-ins, nothing used before its definition at load time)
// and fit its size budget (BUDGETS). Then the gate's own rules, each on small programs it must reject or
// accept, and on what the project's pipeline makes of code that needs transpiler helpers.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { buildModule, ROOT } from "../helpers/bundles";
import { BUDGETS, checkCode, checkFile, format, STORAGE, storageFit, storageNeed } from "../../build/gate.mjs";
import { CORE, FIRMWARE, checkNames, manglePattern, renameKeys } from "../../build/mangle.mjs";
import * as acorn from "acorn";

const GATE = join(ROOT, "build/gate.mjs");
const DIST = join(ROOT, "dist");

// build at collection time: the file list and the sizes decide the tests
const built = spawnSync(process.execPath, [join(ROOT, "build/build.mjs"), "--quiet"], { cwd: ROOT, encoding: "utf8", timeout: 120000 });
const { boardNames, keywords } = await buildModule();
const hasApp = existsSync(join(ROOT, "src/app/main.ts"));
const expected = ["mqtt-mcu.core.js", ...(hasApp ? boardNames().map((b) => b + ".js") : [])];
const files = existsSync(DIST) ? readdirSync(DIST).filter((f) => f.endsWith(".js")).sort() : [];
const size = (f: string) => (existsSync(join(DIST, f)) ? statSync(join(DIST, f)).size : NaN);

function tmpFiles(code: Record<string, string>, fn: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-gate-"));
  try {
    for (const [f, c] of Object.entries(code)) writeFileSync(join(dir, f), c);
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("bundle gate", () => {
  it("npm run build succeeds", () => {
    expect(built.status, `${built.stdout}\n${built.stderr}`).toBe(0);
    for (const f of expected) expect(files, `dist/${f} was not built`).toContain(f);
  });

  it.each(files)("dist/%s passes the gate (ES5, built-ins, nothing used before its definition)", (f) => {
    const r = checkFile(join(DIST, f), { budget: 0 }); // sizes: below, one test per budget
    expect(format(`dist/${f}`, r)).toEqual([]);
  });

  // The budgets are a real gate, on the size each bundle takes in Storage (pretokenised, as flashed)
  for (const [name, budget] of Object.entries(BUDGETS)) {
    it(`dist/${name} within its budget of ${budget} B stored (measured ${size(name)} B of text)`, () => {
      expect(existsSync(join(DIST, name)), `dist/${name} missing`).toBe(true);
      const r = checkFile(join(DIST, name));
      expect(r.stored, `dist/${name} is ${r.stored} B stored, ${r.stored! - budget} B over its budget`).toBeLessThanOrEqual(budget);
      expect(r.stored).toBeLessThan(r.bytes); // the stored form is smaller than the text
      expect(r.problems.filter((p) => p.rule === "size")).toEqual([]);
    });
  }

  // build/mangle.mjs: the property names of the bundles' own objects are shortened
  const props = (f: string) => {
    const names = new Set<string>();
    (function walk(n: any) {
      if (!n || typeof n.type != "string") return;
      if (n.type == "MemberExpression" && !n.computed) names.add(n.property.name);
      if (n.type == "Property" && n.key.type == "Identifier") names.add(n.key.name);
      for (const k in n) { const v = n[k]; if (Array.isArray(v)) v.forEach(walk); else if (v && typeof v.type == "string") walk(v); }
    })(acorn.parse(readFileSync(join(DIST, f), "utf8"), { ecmaVersion: 5 }));
    return names;
  };
  // (a name of 1 or 2 letters may be one esbuild gave another: the longer ones are looked for)
  const long = (l: string[]) => l.filter((n) => n.length > 2);
  it("no listed name is left as a property in the bundles: the core's in every one, the firmware's in the firmware (its config too)", () => {
    const core = props("mqtt-mcu.core.js");
    expect(long(CORE).length).toBeGreaterThan(10);
    expect(long(CORE).filter((n) => core.has(n))).toEqual([]);
    expect(core.has("publish") && core.has("connected") && core.has("keepalive")).toBe(true); // the public API keeps its names
    for (const f of files.filter((f) => f != "mqtt-mcu.core.js")) {
      const fw = props(f);
      expect(long(CORE.concat(FIRMWARE)).filter((n) => fw.has(n)), f).toEqual([]);
      expect(fw.has("length") && fw.has("name") && fw.has("host"), f).toBe(true); // the engines' and JSON's names stay
    }
  });

  it("the minifier's !0, !1 and void 0 go back to true, false and undefined (one byte each stored), spaced where needed", () => {
    expect(keywords("function f(a){return!0}var x=void 0,y=!1,z=!!0,w=a!=0,v=!10;")).toBe("function f(a){return true}var x=undefined,y=false,z=!true,w=a!=0,v=!10;");
    expect(keywords('var s="!0 void 0";')).toBe('var s="!0 void 0";');
  });

  it("the lists hold no name an engine's object has, and the build refuses one that does", () => {
    expect(checkNames(CORE.concat(FIRMWARE))).toEqual([]);
    expect(checkNames(["reboot", "round", "write", "log", "emit", "password", "charCodeAt", "lk"])).toEqual(["reboot", "round", "write", "log", "emit", "password", "charCodeAt"]);
    expect(manglePattern(false).test("pkt") && !manglePattern(false).test("publish") && manglePattern(true).test("publish")).toBe(true);
    CORE.push("reboot");
    try { expect(() => manglePattern(false)).toThrow(/names the engines' objects have: reboot/); } finally { CORE.pop(); }
    expect(renameKeys({ broker: { keepalive: 5, host: "h" }, sensors: [{ name: "a", deadband: 1 }] }, { broker: "a", keepalive: "b", deadband: "c", host: false }))
      .toEqual({ a: { b: 5, host: "h" }, sensors: [{ name: "a", c: 1 }] });
  });

  it("the CLI rejects ES2015 syntax, an ES2015 built-in and a call before a definition, naming file:line:col", () => {
    const bad = { "syntax.js": "var a = 1;\nlet x = 1;\n", "builtin.js": "var m = new Map();\n", "hoist.js": "f();\nfunction f() {}\n" };
    tmpFiles({ ...bad, "good.js": "function f() {}\nf();\n" }, (dir) => {
      const cli = (f: string) => spawnSync(process.execPath, [GATE, relative(ROOT, join(dir, f))], { cwd: ROOT, encoding: "utf8" });
      const where = { "syntax.js": ":2:1: es5: 'let' declaration", "builtin.js": ":1:13: builtin: Map", "hoist.js": ":1:1: order: uses function f (defined at 2:10)" };
      for (const [f, w] of Object.entries(where)) {
        const r = cli(f);
        expect(r.status, r.stdout + r.stderr).toBe(1);
        expect(r.stdout).toContain(relative(ROOT, join(dir, f)) + w);
      }
      const ok = cli("good.js");
      expect(ok.status, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/good\.js: 21 B, \d+ B gzip — ok/);
    });
  });
});

/** rule:line:col of each problem */
const found = (code: string) => checkCode(code, "x.js").problems.filter((p) => p.line).map((p) => `${p.rule}:${p.line}:${p.col}`);

describe("the gate's rules", () => {
  // [what, code, the problems expected (rule:line:col), a word of the first message]
  const REJECT: [string, string, string[], string][] = [
    // es5: parsed as ES5; what is not ES5 is named where it is
    ["let", "var a;\nlet x = 1;", ["es5:2:1"], "'let' declaration"],
    ["an arrow function and a template literal", "var f = () => `x`;", ["es5:1:9", "es5:1:15"], "arrow function"],
    ["a class", "class A {}", ["es5:1:1"], "class"],
    ["spread and destructuring", "var o = {}, a = [];\nvar {x} = o; f(...a);", ["es5:2:5", "es5:2:16"], "destructuring"],
    ["for-of", "for (var x of []) {}", ["es5:1:1"], "for-of"],
    ["text that is not JavaScript", "var = ;", ["es5:1:5"], "Unexpected token"],
    // builtin: ES2015+ globals, statics and methods, wherever they are (even guarded, even in a helper)
    ["new Map()", "var m = new Map();", ["builtin:1:13"], "Map"],
    ["swc's typeof helper (guarded Symbol)", 'function t(o) { return o && typeof Symbol !== "undefined" && o.constructor === Symbol ? "symbol" : typeof o; }', ["builtin:1:36", "builtin:1:80"], "Symbol"],
    ["Promise, Reflect", "function f() { return [Promise.resolve(1), Reflect]; }", ["builtin:1:24", "builtin:1:44"], "Promise"],
    ["Object.assign, Array.from", "var o = Object.assign({}, {});\nvar a = Array.from(o);", ["builtin:1:9", "builtin:2:9"], "Object.assign"],
    ["Object.freeze (Espruino has none)", "Object.freeze({});", ["builtin:1:1"], "Object.freeze"],
    ["Number.isInteger, String.fromCodePoint", "Number.isInteger(1); String.fromCodePoint(65);", ["builtin:1:1", "builtin:1:22"], "Number.isInteger"],
    ["ES2015 methods", 'function f() {}\n"abc".includes("a"); [1].find(f); "a".padStart(2);', ["builtin:2:7", "builtin:2:26", "builtin:2:39"], ".includes()"],
    ["Array.prototype.x (undefined on Espruino)", "function f() { return Array.prototype.slice.call(arguments); }", ["builtin:1:23"], "[].slice.call"],
    ["String.prototype.x (undefined on Espruino)", 'var t = String.prototype.trim.call(" a ");', ["builtin:1:9"], "reads as undefined"],
    // order: nothing used before its definition has run (Espruino hoists neither functions nor vars)
    ["a call before the function's declaration", "f();\nfunction f() {}", ["order:1:1"], "uses function f (defined at 2:10)"],
    ["the __extends pattern", "function __extends(d, b) { d.prototype = Object.create(b.prototype); }\nfunction Base() {}\n" +
      "var Child = (function (_super) {\n  __extends(Child, _super);\n  function Child() { _super.call(this); }\n  return Child;\n})(Base);",
    ["order:4:13"], "uses function Child (defined at 5:12)"],
    ["a var read before its declaration", "var x = y + 1;\nvar y = 2;", ["order:1:9"], "uses var y"],
    ["a var written before its declaration", "x = 1;\nvar x;", ["order:1:1"], "uses var x"],
    ["a function called at load time that calls one defined later", "function a() { return b(); }\na();\nfunction b() {}", ["order:2:1"], "calls a, which runs code (at 1:1) that uses function b"],
    ["the same through recursion", "function r(n) { return n ? r(n - 1) : v; }\nr(2);\nvar v = 1;", ["order:2:1"], "uses var v"],
    ["the same through an alias", "function a() { return v; }\nvar c = a;\nc();\nvar v = 1;", ["order:3:1"], "calls c"],
    ["an IIFE using a later function", "(function () { g(); })();\nfunction g() {}", ["order:1:16"], "uses function g"],
    ["fn.call and new function(){}", "(function () { g(); }).call(this);\nnew function () { g(); };\nfunction g() {}", ["order:1:16", "order:2:19"], "uses function g"],
    ["a forEach callback", "[1].forEach(function () { g(); });\nfunction g() {}", ["order:1:27"], "uses function g"],
    ["an object literal's method", "var o = { m: function () { return g(); } };\no.m();\nfunction g() {}", ["order:2:1"], "calls o.m"],
    ["a catch clause", "try { throw 1; } catch (e) { g(e); }\nfunction g() {}", ["order:1:30"], "uses function g"],
    ["inside any function: its own function used before its declaration", "function h() {\n  return g();\n  function g() {}\n}", ["order:2:10"], "uses function g (defined at 3:12)"],
  ];
  it.each(REJECT)("rejects %s", (_, code, want, word) => {
    const r = checkCode(code, "x.js");
    expect(found(code)).toEqual(want);
    expect(r.problems[0].message).toContain(word);
  });

  const ACCEPT: [string, string][] = [
    ["a function defined, then called", "function f() {}\nf();"],
    ["a function referenced inside another before its definition, called after both", "function a() { return b(); }\nfunction b() { return 1; }\na();"],
    ["a function used by a callback that runs later (timer, event)", "setTimeout(function () { later(); }, 0);\nvar o = { on: function (e, f) {} };\no.on(\"x\", function () { later(); });\nfunction later() {}"],
    ["a function that is never called at load time", "function a() { return b() + v; }\nfunction b() {}\nvar v = 1;"],
    ["recursion", "function r(n) { return n ? r(n - 1) : 0; }\nr(3);"],
    ["typeof of a name defined later", "var t = typeof later;\nvar later = 1;"],
    ["typed arrays and ES5 built-ins", "var u = new Uint8Array(4), d = new DataView(u.buffer);\nObject.keys(Object.create(null)); [].slice.call(u); JSON.stringify(u.subarray(0, 1));"],
    ["property names that are built-ins' names", "var o = { includes: 1, Map: 2, Symbol: 3 };\no.Map = o.Symbol;"],
    ["locals named like built-ins", "function f(Map, Symbol) { return new Map(Symbol); }\nfunction g() { var Object = { assign: 1 }; return Object.assign; }"],
    ["the ES5 that swc's loose mode writes for a class", "var A = function () {\n  function A(x) { this.x = x; }\n  A.prototype.get = function () { return this.x; };\n  return A;\n}();\nnew A(1).get();"],
  ];
  it.each(ACCEPT)("accepts %s", (_, code) => {
    expect(format("x.js", checkCode(code, "x.js"))).toEqual([]);
  });

  it("rejects what the project's pipeline makes of `extends` and `typeof x == \"object\"` (their helpers)", async () => {
    const b = await buildModule();
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-gate-"));
    try {
      writeFileSync(join(dir, "ext.ts"), "class A { constructor(public x: number) {} }\nclass B extends A { constructor() { super(1); } }\nexport const b = new B();\n");
      writeFileSync(join(dir, "tof.ts"), 'export function kind(x: unknown) { return typeof x == "object" ? 1 : 2; }\n(kind as any).k = kind(1);\n');
      const rules = async (f: string, minify: boolean) => {
        const code = await b.bundle({ entry: relative(ROOT, join(dir, f)), out: join(dir, f + ".js"), minify });
        return checkCode(code, f).problems.map((p) => p.rule + " " + p.message);
      };
      // unminified: B is used (by _inherits) before its function declaration; the helpers need ES2015
      const ext = await rules("ext.ts", false);
      expect(ext.some((m) => m.startsWith("order uses function B"))).toBe(true);
      expect(ext).toContain("builtin Object.setPrototypeOf is not available on every target");
      // minified, swc orders the declaration first, but the helper still names Object.setPrototypeOf
      expect(await rules("ext.ts", true)).toContain("builtin Object.setPrototypeOf is not available on every target");
      expect(await rules("tof.ts", true)).toContain("builtin Symbol (ES2015+) is not available on every target");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("size: a file stored over its budget fails, one at its budget passes", () => {
    const code = "var abc = 1000;\n"; // 16 bytes of text; stored: var (1 byte), abc, =, 1000 (3 bytes), ;
    expect(checkCode(code, "x.js", { budget: 8 }).problems).toEqual([{ rule: "size", line: 0, col: 0, message: "9 B stored (16 B of text) is 1 B over its budget of 8 B" }]);
    expect(checkCode(code, "x.js", { budget: 9 }).problems).toEqual([]);
    expect(checkCode(code, "x.js", { budget: 9 }).stored).toBe(9);
    expect(checkCode(code, "mqtt-mcu.core.js").budget).toBe(BUDGETS["mqtt-mcu.core.js"]);
  });

  it("Storage: the esp8266 budget fits the 16 KB Storage of a 1 MB ESP8266 with its header and room for other files", () => {
    const oneMB = STORAGE.find((s) => s.board === "esp8266-1mb")!;
    expect(oneMB.bytes).toBe(16384);
    expect(storageNeed(15000)).toBe(15000 + 32 + 1024);
    expect(storageFit("esp8266.js", BUDGETS["esp8266.js"])).toEqual([
      { board: "esp8266-1mb", storage: 16384, fits: true }, { board: "esp8266-4mb", storage: 196608, fits: true }]);
    expect(storageFit("esp8266.js", 16128).map((s) => s.fits)).toEqual([false, true]); // today's size
    expect(storageFit("mqtt-mcu.core.js", 9914).map((s) => s.board)).toEqual(STORAGE.map((s) => s.board)); // runs on every board
    expect(storageFit("host.js", 100)).toEqual([]); // not an Espruino bundle
  });
});

// The bundle gate: dist/ is rebuilt (`node build/build.mjs`, as `npm test` does), then every dist/*.js
// must pass ../shared/tools/bundle-check.mjs (ES5 syntax, no ES2015+ built-ins, nothing used before its
// definition at load time, size), and the size budgets exported as BUDGETS by build/build.mjs must hold.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildModule, ROOT } from "../helpers/bundles";

const CHECK = join(ROOT, "../shared/tools/bundle-check.mjs");
const DIST = join(ROOT, "dist");

// build at collection time: the file list and the sizes decide the tests
const built = spawnSync(process.execPath, [join(ROOT, "build/build.mjs"), "--quiet"], { cwd: ROOT, encoding: "utf8", timeout: 120000 });
const { BUDGETS, boardNames } = await buildModule();
const hasApp = existsSync(join(ROOT, "src/app/main.ts"));
const expected = ["mqtt-mcu.core.js", ...(hasApp ? boardNames().map((b) => b + ".js") : [])];
const files = existsSync(DIST) ? readdirSync(DIST).filter((f) => f.endsWith(".js")).sort() : [];
const size = (f: string) => (existsSync(join(DIST, f)) ? statSync(join(DIST, f)).size : NaN);

function check(...paths: string[]) {
  const r = spawnSync(process.execPath, [CHECK, ...paths], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, out: (r.stdout || "") + (r.stderr || "") };
}

// Over budget while the code is being shrunk (issue 4): their budget tests are skipped, with the size
// measured now in the title. When a file fits, its test runs again by itself; then drop it from here.
const KNOWN_OVER_BUDGET = new Set(["mqtt-mcu.core.js", "esp8266.js"]);

describe("bundle gate", () => {
  it("npm run build succeeds", () => {
    expect(built.status, `${built.stdout}\n${built.stderr}`).toBe(0);
    for (const f of expected) expect(files, `dist/${f} was not built`).toContain(f);
  });

  it.each(files)("dist/%s passes bundle-check (ES5, built-ins, hoisting, size)", (f) => {
    const r = check(join("dist", f));
    expect(r.status, r.out).toBe(0);
  });

  for (const [name, budget] of Object.entries(BUDGETS)) {
    const n = size(name), over = KNOWN_OVER_BUDGET.has(name) && !(n <= budget);
    if (KNOWN_OVER_BUDGET.has(name) && n <= budget)
      console.warn(`gate.test.ts: ${name} (${n} B) fits its ${budget}-byte budget now: remove it from KNOWN_OVER_BUDGET`);
    (over ? it.skip : it)(
      over ? `dist/${name} within its budget of ${budget} B: SKIPPED, known over budget (measured ${n} B, ${n - budget} B over) while it is being shrunk`
        : `dist/${name} within its budget of ${budget} B (measured ${n} B)`,
      () => {
        expect(existsSync(join(DIST, name)), `dist/${name} missing`).toBe(true);
        expect(n, `dist/${name} is ${n} B, ${n - budget} B over its budget`).toBeLessThanOrEqual(budget);
      });
  }

  it("the checker itself rejects ES2015 syntax, an ES2015 built-in and a call before a definition", () => {
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-gate-"));
    try {
      const bad = { "syntax.js": "let x = 1;\n", "builtin.js": "var m = new Map();\n", "hoist.js": "f();\nfunction f() {}\n", "good.js": "function f() {}\nf();\n" };
      for (const [f, code] of Object.entries(bad)) writeFileSync(join(dir, f), code);
      for (const f of ["syntax.js", "builtin.js", "hoist.js"]) expect(check(join(dir, f)).status, f).toBe(1);
      expect(check(join(dir, "good.js")).status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

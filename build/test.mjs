#!/usr/bin/env node
// npm test: build the bundles, typecheck, run every vitest suite, then the bundle gate (build/gate.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./build.mjs";

function run(what, cmd, args) {
  console.log(`\n== ${what}: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit", env: process.env });
  if (r.status !== 0) { console.error(`\n${what} failed (exit ${r.status})`); process.exit(r.status || 1); }
}

run("build", "node", ["build/build.mjs"]);
run("typecheck", "npx", ["tsc", "--noEmit", "-p", "."]);
if (JSON.parse(readFileSync(join(ROOT, "tsconfig.espruino.json"), "utf8").replace(/^\s*\/\/.*$/gm, "")).files.length)
  run("typecheck (Espruino boards)", "npx", ["tsc", "--noEmit", "-p", "tsconfig.espruino.json"]);
run("tests", "npx", ["vitest", "run", ...process.argv.slice(2)]);
const bundles = readdirSync(join(ROOT, "dist")).filter((f) => f.endsWith(".js")).map((f) => join("dist", f));
run("bundle gate", "node", ["build/gate.mjs", ...bundles]);
// an extra check where the shared tools sit next to the project (the maintainers' machines, not a clone)
if (existsSync(join(ROOT, "../shared/tools/bundle-check.mjs"))) run("shared bundle check", "node", ["../shared/tools/bundle-check.mjs", ...bundles]);

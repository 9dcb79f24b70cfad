// test/helpers/seed.ts keeps its promise: a randomized test that fails prints its seed and the command
// that replays it, and that seed (and fast-check's path) gives the same values again. Checked on
// test/helpers/seed-fixture.ts (two tests that always fail) in child vitest runs.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/bundles";

const FIXTURE = "test/helpers/seed-fixture.ts";

function vitest(env: Record<string, string>, args: string[] = []): Promise<{ status: number | null; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-seed-")), config = join(dir, "vitest.config.mjs");
  writeFileSync(config, `export default { test: { include: [${JSON.stringify(FIXTURE)}], reporters: ["default"] } };\n`);
  const e: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...env };
  if (!env.TEST_SEED) delete e.TEST_SEED;
  if (!env.TEST_PATH) delete e.TEST_PATH;
  return new Promise((done) => {
    const p = spawn(process.execPath, [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", "--root", ROOT, "--config", config, ...args], { cwd: ROOT, env: e });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("close", (status) => { rmSync(dir, { recursive: true, force: true }); done({ status, out }); });
  });
}

const seedOf = (out: string) => [...out.matchAll(/randomized test failed with seed (-?\d+)/g)].map((m) => Number(m[1]));
const pathOf = (out: string) => /\{ seed: (-?\d+), path: "([\d:]+)"/.exec(out);
const example = (out: string) => /Counterexample: (.*)/.exec(out)![1];
const drawn = (out: string) => /drawn (\[.*\])/.exec(out)![1];

describe("seeded randomized tests", () => {
  it("a failure prints its seed and the replay command; TEST_SEED (and TEST_PATH) replay the same values", async () => {
    const first = await vitest({});
    expect(first.status, first.out).toBe(1);
    const seeds = seedOf(first.out);
    expect(seeds, first.out).toHaveLength(2); // both failing tests announce it
    const seed = seeds[0];
    expect(seeds[1]).toBe(seed);
    expect(first.out).toContain(`replay: TEST_SEED=${seed} npx vitest run ${FIXTURE} -t 'a property that fails'`);
    expect(first.out).toContain(`replay: TEST_SEED=${seed} npx vitest run ${FIXTURE} -t 'a seeded PRNG test that fails'`);
    const fcRun = pathOf(first.out)!;
    expect(Number(fcRun[1])).toBe(seed); // fast-check ran with our seed

    const [again, one, other] = await Promise.all([
      vitest({ TEST_SEED: String(seed) }),
      vitest({ TEST_SEED: String(seed), TEST_PATH: fcRun[2] }, ["-t", "a property that fails"]),
      vitest({ TEST_SEED: String(seed ^ 1) }, ["-t", "a seeded PRNG test that fails"]),
    ]);
    expect(seedOf(again.out)).toEqual([seed, seed]);
    expect(pathOf(again.out)![2]).toBe(fcRun[2]);
    expect(example(again.out)).toBe(example(first.out));
    expect(drawn(again.out)).toBe(drawn(first.out));
    // the path alone: fast-check starts from the shrunk counterexample
    expect(one.out).toContain("Property failed after 1 tests");
    expect(example(one.out)).toBe(example(first.out));
    // and another seed, other values
    expect(seedOf(other.out)).toEqual([seed ^ 1]);
    expect(drawn(other.out)).not.toBe(drawn(first.out));
  });
});

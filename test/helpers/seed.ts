// One seed for every randomized test, so a failure found by chance can be replayed:
//   TEST_SEED=n npx vitest run test/unit/x.test.ts [-t "test name"]
// The seed is TEST_SEED when set, else a random one. A randomized test calls `fcParams()` (fast-check)
// or `random()` / `randomBytes()` (a seeded PRNG instead of Math.random / crypto) inside its body; if
// that test then fails, the seed and the command that replays it are printed.
// fast-check gets the seed itself, so the `seed` and `path` it reports match TEST_SEED, and the shrunk
// counterexample replays directly with TEST_PATH="<path>" (select the one test with -t: a path only
// means something to the property that reported it).
import { expect, onTestFailed } from "vitest";
import { relative } from "node:path";
import type { Parameters } from "fast-check";

function fromEnv(v: string | undefined): number | null {
  if (v == null || v === "") return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) throw new Error(`TEST_SEED must be a 32-bit integer, not "${v}"`);
  return n | 0;
}

/** this run's seed (a 32-bit integer, fast-check's kind) */
export const SEED = fromEnv(process.env.TEST_SEED) ?? (Math.random() * 0x80000000) | 0;

const announced = new Set<string>();
/** the seed, and on the current test's failure: print it with the replay command (once per test) */
export function seed(): number {
  const { testPath, currentTestName } = expect.getState();
  const key = testPath + " > " + currentTestName;
  if (!announced.has(key)) {
    announced.add(key);
    onTestFailed(() => {
      const file = testPath ? relative(process.cwd(), testPath) : "<test file>";
      // -t takes a regular expression; the shell gets it in single quotes
      const name = String(currentTestName).split(" > ").pop()!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/'/g, "'\\''");
      console.error(`randomized test failed with seed ${SEED}: ${currentTestName}\n` +
        `  replay: TEST_SEED=${SEED} npx vitest run ${file} -t '${name}'\n` +
        `  (fast-check: add TEST_PATH="<the path it reports>" to run only its shrunk counterexample)`);
    });
  }
  return SEED;
}

/** fast-check parameters with this run's seed (and TEST_PATH, when set, to replay one counterexample) */
export function fcParams<T>(p: Parameters<T> = {}): Parameters<T> {
  const path = process.env.TEST_PATH;
  return { ...p, seed: seed(), ...(path ? { path } : {}) };
}

// mulberry32: small, fast, good enough for test data (not for keys)
function mulberry32(s: number) {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// One stream per test, seeded by the seed and the test's name: a test draws the same values whether it
// runs alone (-t) or after others, and two tests do not draw the same data.
const streams = new Map<string, () => number>();
function stream(): () => number {
  // keyed by the name only, not the file's absolute path: the same data on every machine
  const s = seed(), key = String(expect.getState().currentTestName);
  let r = streams.get(key);
  if (!r) {
    let h = s;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x9e3779b1);
    streams.set(key, (r = mulberry32(h)));
  }
  return r;
}

/** a number in [0, 1) from this test's seeded stream (instead of Math.random) */
export function random(): number {
  return stream()();
}

/** `n` bytes from this test's seeded stream (instead of crypto.randomBytes) */
export function randomBytes(n: number): Buffer {
  const r = stream(), b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

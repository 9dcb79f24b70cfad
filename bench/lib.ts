// Shared by the benchmark parts: A/B rounds on tinybench, and the statistics we report.
//
// Method: every comparison is A (ours) against B (a peer) in the same process and the same run. One
// round runs every task once with tinybench; rounds alternate the order (A,B then B,A) so neither side
// always runs on a warmer or a more fragmented heap. Within a round a task's rate comes from the mean
// time per iteration (so garbage-collection pauses count against whoever makes the garbage); across
// rounds we report the median and the interquartile range, and ratios are taken per round, then medianed.
import { Bench, Task } from "tinybench";
import { writeFileSync } from "node:fs";

export const median = (xs: number[]) => quantile(xs, 0.5);

/** linear-interpolated quantile of unsorted numbers */
export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = xs.slice().sort((a, b) => a - b), i = (s.length - 1) * q, lo = Math.floor(i), hi = Math.ceil(i);
  return s[lo] + (s[hi] - s[lo]) * (i - lo);
}

/** over rounds: the median, the interquartile range (p25..p75) and the extremes */
export interface Spread { median: number; p25: number; p75: number; min: number; max: number; n: number }
export function spread(xs: number[]): Spread {
  return { median: median(xs), p25: quantile(xs, 0.25), p75: quantile(xs, 0.75), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

export interface Pair {
  /** row label, e.g. "encode mix" */
  name: string;
  /** units of work one call of a/b does (packets, round trips...) */
  units: number;
  a: () => unknown;
  b: () => unknown;
}

export interface PairResult {
  name: string;
  /** units per second, per round */
  aRate: Spread; bRate: Spread;
  /** a/b rate, per round */
  ratio: Spread;
  /** per-iteration latency in ms, all samples of all rounds pooled (when retained) */
  aLatency?: { p50: number; p99: number; samples: number };
  bLatency?: { p50: number; p99: number; samples: number };
}

export interface RoundOptions {
  rounds: number;
  /** ms per task per round */
  time: number;
  warmupTime: number;
  /** minimum iterations per task per round (tinybench's `iterations`); default 16 */
  iterations?: number;
  /** keep per-iteration samples, for p50/p99 */
  samples?: boolean;
  /** called between rounds (progress) */
  log?: (s: string) => void;
}

function rateOf(t: Task, units: number): number {
  const r: any = t.result;
  if (r.state !== "completed") throw new Error(`task ${t.name} ${r.state}: ${r.error && (r.error.stack || r.error.message)}`);
  return units * 1000 / r.latency.mean;
}

/** Run every pair for `rounds` rounds, alternating A/B order, and summarise. */
export async function runPairs(pairs: Pair[], o: RoundOptions): Promise<PairResult[]> {
  const aR = pairs.map(() => [] as number[]), bR = pairs.map(() => [] as number[]), ratio = pairs.map(() => [] as number[]);
  const aS = pairs.map(() => [] as number[]), bS = pairs.map(() => [] as number[]);
  for (let r = 0; r < o.rounds; r++) {
    // many short rounds rather than a few long ones: on a shared machine a burst of load then hits
    // both sides of a few rounds instead of one side of a big one. Only the first round warms up.
    const bench = new Bench({
      time: o.time, warmup: r === 0, warmupTime: o.warmupTime, warmupIterations: 8, iterations: o.iterations || 16,
      retainSamples: !!o.samples, throws: true,
    });
    pairs.forEach((p, i) => {
      const first = r % 2 ? "b" : "a", second = r % 2 ? "a" : "b";
      bench.add(`${i}:${first}`, p[first]);
      bench.add(`${i}:${second}`, p[second]);
    });
    await bench.run();
    for (const t of bench.tasks) {
      const [i, side] = t.name.split(":"), k = +i, rate = rateOf(t, pairs[k].units);
      (side === "a" ? aR : bR)[k].push(rate);
      if (o.samples) {
        const s = (t.result as any).latency.samples as number[] | undefined;
        if (s) for (const x of s) (side === "a" ? aS : bS)[k].push(x);
      }
    }
    pairs.forEach((_, k) => ratio[k].push(aR[k][r] / bR[k][r]));
    if (o.log) o.log(`round ${r + 1}/${o.rounds}: ` + pairs.map((p, k) => `${p.name} ${ratio[k][r].toFixed(2)}x`).join(", "));
  }
  return pairs.map((p, k) => {
    const out: PairResult = { name: p.name, aRate: spread(aR[k]), bRate: spread(bR[k]), ratio: spread(ratio[k]) };
    if (o.samples) {
      const lat = (s: number[]) => ({ p50: quantile(s, 0.5), p99: quantile(s, 0.99), samples: s.length });
      out.aLatency = lat(aS[k]);
      out.bLatency = lat(bS[k]);
    }
    return out;
  });
}

/** `--out FILE` and `--quick` from argv, shared by every part */
export function args() {
  const a = process.argv.slice(2);
  const i = a.indexOf("--out");
  return { out: i >= 0 ? a[i + 1] : null, quick: a.includes("--quick") };
}

export function emit(out: string | null, result: unknown) {
  const s = JSON.stringify(result, null, 2);
  if (out) writeFileSync(out, s + "\n");
  else console.log(s);
}

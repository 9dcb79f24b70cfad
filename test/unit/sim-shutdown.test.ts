// The simulator's shutdown (sim/shutdown.ts): reverse order, time limits, failures reported not fatal,
// once only; Ctrl-C stops and exits, a second Ctrl-C exits at once. The whole command's Ctrl-C is
// tested end to end in test/e2e/sim.test.ts.
import { describe, expect, it } from "vitest";
import { EventEmitter } from "node:events";
import { Shutdown, exitOnSignals } from "../../sim/shutdown";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Shutdown", () => {
  it("stops in reverse order of start, waiting for each", async () => {
    const sd = new Shutdown(), order: string[] = [];
    sd.add("web", () => { order.push("web"); });
    sd.add("broker", async () => { await sleep(20); order.push("broker"); });
    sd.add("board", async () => { await sleep(5); order.push("board"); });
    expect(await sd.run()).toEqual([]);
    expect(order).toEqual(["board", "broker", "web"]);
  });

  it("a step that throws or hangs is reported; the others still stop", async () => {
    const sd = new Shutdown(50), order: string[] = [];
    sd.add("a", () => { order.push("a"); });
    sd.add("hangs", () => new Promise(() => {}));
    sd.add("throws", () => { throw new Error("boom"); });
    sd.add("rejects", () => Promise.reject(new Error("nope")));
    const t0 = Date.now();
    expect(await sd.run()).toEqual(["rejects: nope", "throws: boom", "hangs: did not stop within 50 ms"]);
    expect(order).toEqual(["a"]);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("runs once: later calls get the same result, steps are not run twice", async () => {
    const sd = new Shutdown();
    let n = 0;
    sd.add("x", () => { n++; });
    const a = sd.run(), b = sd.run();
    expect(a).toBe(b);
    await a;
    await sd.run();
    expect(n).toBe(1);
    expect(sd.started).toBe(true);
  });

  it("something registered while stopping is stopped at once", async () => {
    const sd = new Shutdown();
    let stopped = false;
    sd.add("slow", () => sleep(20));
    const p = sd.run();
    sd.add("late", () => { stopped = true; });
    await p;
    await sleep(0);
    expect(stopped).toBe(true);
  });
});

describe("exitOnSignals", () => {
  function rig(steps: Record<string, () => unknown>) {
    const proc = new EventEmitter(), sd = new Shutdown(100), lines: string[] = [], codes: number[] = [];
    for (const k in steps) sd.add(k, steps[k]);
    const off = exitOnSignals(sd, { proc, exit: (c) => codes.push(c), log: (s) => lines.push(s) });
    return { proc, sd, lines, codes, off };
  }

  it("Ctrl-C: says so, stops everything, exits 0", async () => {
    let stopped = false;
    const r = rig({ board: () => { stopped = true; } });
    r.proc.emit("SIGINT");
    expect(r.lines).toEqual(["Ctrl-C: stopping…"]);
    await r.sd.run();
    await sleep(0);
    expect(stopped).toBe(true);
    expect(r.codes).toEqual([0]);
  });

  it("SIGTERM does the same; a failed step exits 1 and is named", async () => {
    const r = rig({ broker: () => { throw new Error("stuck"); } });
    r.proc.emit("SIGTERM");
    await r.sd.run();
    await sleep(0);
    expect(r.lines).toEqual(["SIGTERM: stopping…", "could not stop broker: stuck"]);
    expect(r.codes).toEqual([1]);
  });

  it("a second Ctrl-C while stopping exits at once with 130", async () => {
    const r = rig({ slow: () => sleep(50) });
    r.proc.emit("SIGINT");
    r.proc.emit("SIGINT");
    expect(r.codes).toEqual([130]);
    expect(r.lines[1]).toBe("SIGINT again: exiting now");
    await r.sd.run();
  });

  it("the returned function removes the handlers", () => {
    const r = rig({});
    expect(r.proc.listenerCount("SIGINT")).toBe(1);
    r.off();
    expect(r.proc.listenerCount("SIGINT")).toBe(0);
    expect(r.proc.listenerCount("SIGTERM")).toBe(0);
  });
});

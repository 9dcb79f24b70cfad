// Issue 7 (d): a hostile broker. 100,000 mutated packets (bit flips, truncation, wrong remaining
// lengths, random bytes, 4- and 5-byte remaining lengths, huge announced sizes, bad fields, spliced
// packets) among about twice as many valid ones, in random chunks, many per connection:
//  - in process through the client's port (src/mqtt/client.ts with a fake transport and clock);
//  - a slice over real TCP from a net server on 127.0.0.1 (src/index.ts over src/net/socket.ts).
// No exception escapes, memory and state stay bounded, every problem is reported as an error value,
// the link is dropped and the client reconnects. The generators and harnesses are bench/fuzz.mjs's:
// `npm run fuzz -- --count 1000000` runs the long version on the built bundle.
import { describe, expect, it } from "vitest";
import * as net from "node:net";
import { createClient as coreClient } from "../../src/mqtt/client";
import { createClient } from "../../src/index";
import { socketTransport } from "../../src/net/socket";
// @ts-ignore - plain ESM script shared with `npm run fuzz`
import { fuzzInProcess, fuzzSockets, MUTATIONS } from "../../bench/fuzz.mjs";
import { figure } from "./reliability-common";

const MB = 1048576;

describe("reliability: a hostile broker (fuzzed packets)", () => {
  it("100,000 mutated packets through the port: 0 exceptions, bounded memory and state, errors reported, reconnects", () => {
    const s = fuzzInProcess({ createClient: coreClient, count: 100000, seed: 20240607, heapEvery: 20000 });
    figure("fuzz in process", { mutated: s.mutated, valid: s.valid, connections: s.connections, thrown: s.thrown, errors: s.errors,
      heapStartMB: +(s.heapStart / MB).toFixed(1), heapMaxMB: +(s.heapMax / MB).toFixed(1), heapEndMB: +(s.heapEnd / MB).toFixed(1), maxInflight: s.maxInflight, maxQueued: s.maxQueued, seconds: s.ms / 1000 });
    expect(s.firstThrow).toBeNull();
    expect(s.thrown).toBe(0);
    expect(s.mutated).toBeGreaterThanOrEqual(100000);
    for (const m of MUTATIONS) expect(s.byMutation[m], m).toBeGreaterThan(1000);
    // each kind of trouble was met and reported as a value
    for (const code of ["EMALFORMED", "ETOOBIG", "EKEEPALIVE", "ETRANSPORT", "ETIMEOUT"]) expect(s.errors[code], code).toBeGreaterThan(10);
    // the link was dropped and made again, thousands of times
    expect(s.connections).toBeGreaterThan(2000);
    // bounded: the options' limits hold, one timer at a time, the heap does not grow with the count
    expect(s.maxInflight).toBeLessThanOrEqual(10);
    expect(s.maxQueued).toBeLessThanOrEqual(50);
    expect(s.maxTimers).toBeLessThanOrEqual(2);
    expect(s.heapMax - s.heapStart).toBeLessThan(8 * MB);
  });

  it("a slice over real TCP sockets: 5,000 mutated packets, 0 uncaught exceptions, reconnects", async () => {
    const s = await fuzzSockets({
      count: 5000, seed: 7, maxMs: 30000,
      makeClient: (port: number) => createClient({ host: "127.0.0.1", port, clientId: "fuzz-tcp", transport: socketTransport(net), keepalive: 2, connectTimeout: 1000, reconnect: { min: 1, max: 5 } }),
    });
    figure("fuzz over TCP", { mutated: s.mutated, connections: s.connections, thrown: s.thrown, errors: s.errors, seconds: s.ms / 1000 });
    expect(s.firstThrow).toBeNull();
    expect(s.mutated).toBeGreaterThanOrEqual(5000);
    expect(s.connections).toBeGreaterThan(20);
    expect(s.errors.EMALFORMED).toBeGreaterThan(10);
  });
});

describe("reliability: a broker that never releases QoS 2 ids", () => {
  // Incoming QoS 2 ids are held until PUBREL; a broker that sends fresh ids and never releases them
  // (on a session-present link, where they are kept) must not grow that table past its bound.
  it("20,000 unreleased QoS 2 ids: the client's memory stays bounded (error reported, link dropped)", async () => {
    const v8 = await import("node:v8"), vm = await import("node:vm");
    v8.setFlagsFromString("--expose_gc");
    const gc = vm.runInNewContext("gc") as () => void;
    let ev: any, links = 0;
    const errs: string[] = [];
    const c = coreClient({
      clientId: "x", clean: false, keepalive: 0, reconnect: false,
      transport: (_h, _p, e) => { ev = e; links++; return { write() {}, close() {} }; },
      clock: { now: () => 0, setTimer: () => 1, clearTimer() {} },
    });
    c.on("error", (e: any) => errs.push(e.code));
    c.connect(); ev.open(); ev.data("\x20\x02\x01\x00"); // CONNACK, session present
    gc(); gc();
    const h0 = process.memoryUsage().heapUsed;
    const chr = String.fromCharCode;
    for (let id = 1; id <= 20000 && c.connected; id++) ev.data("\x34\x05\x00\x01t" + chr(id >> 8, id & 255));
    gc(); gc();
    const grown = process.memoryUsage().heapUsed - h0;
    figure("unreleased QoS 2 ids", { heapGrowthKB: Math.round(grown / 1024), errors: errs });
    expect(grown).toBeLessThan(64 * 1024);
    expect(errs).toContain("EQUEUEFULL");
    expect(c.connected).toBe(false); // the link was dropped
  });
});

#!/usr/bin/env node
// npm run fuzz [-- --count 1000000] [--seed N] [--sockets 20000]
//
// A hostile broker against the client: mutated MQTT packets (bit flips, truncation, wrong remaining
// lengths, random bytes, 4- and 5-byte remaining lengths, huge announced sizes, bad fields) mixed with
// valid ones, cut into random chunks (1 byte to many packets), many packets per connection.
// The client must never throw, keep its state bounded, report each problem as an error value, drop
// the link on a protocol violation and reconnect.
//
// Two harnesses, both exported for test/integration/reliability-fuzz.test.ts (which runs 100,000):
//  - fuzzInProcess: the client's port driven directly (a fake transport and clock), fast;
//  - fuzzSockets: a real net server on 127.0.0.1 writing to the client over TCP.
// Run as a script it fuzzes the BUILT bundle (dist/mqtt-mcu.core.js, built when missing): --count
// packets in process, then --sockets packets over real sockets (default count/50).
import { createServer } from "node:net";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import vm from "node:vm";
import v8 from "node:v8";

// ---- randomness: seeded, so a failure is reproducible with --seed ----
export function rng(seed) {
  let s = seed >>> 0 || 1;
  const r = () => { // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  r.int = (n) => Math.floor(r() * n);
  r.pick = (a) => a[Math.floor(r() * a.length)];
  return r;
}

// ---- a broker's packets, encoded here (independently of the codec under test) ----
const chr = String.fromCharCode;
const u16 = (n) => chr((n >> 8) & 255, n & 255);
function varint(n) {
  let s = "";
  do { let d = n % 128; n = Math.floor(n / 128); s += chr(n ? d | 128 : d); } while (n);
  return s;
}
export const pkt = (first, body) => chr(first) + varint(body.length) + body;
const TOPICS = ["t", "cmd/dev-1/relay/set", "a/b/c", "sensors/é/ü", "x".repeat(200)];

/** a valid packet a broker may send a client */
export function validPacket(r) {
  const id = 1 + r.int(r() < 0.7 ? 20 : 65535);
  switch (r.int(10)) {
    case 0: return pkt(0x20, chr(r.int(2), 0)); // CONNACK (unexpected while connected: ignored)
    case 1: case 2: {
      const q = r.int(3), t = r.pick(TOPICS);
      const payload = r() < 0.1 ? "p".repeat(r.int(3000)) : "v" + r.int(1000);
      return pkt(0x30 | (q << 1) | (q && r() < 0.2 ? 8 : 0) | (r() < 0.1 ? 1 : 0), u16(t.length) + t + (q ? u16(id) : "") + payload);
    }
    case 3: return pkt(0x40, u16(id)); // PUBACK
    case 4: return pkt(0x50, u16(id)); // PUBREC
    case 5: return pkt(0x62, u16(id)); // PUBREL
    case 6: return pkt(0x70, u16(id)); // PUBCOMP
    case 7: return pkt(0x90, u16(id) + r.pick([chr(0), chr(1), chr(2), chr(128), chr(1, 128, 2)])); // SUBACK
    case 8: return pkt(0xb0, u16(id)); // UNSUBACK
    default: return pkt(0xd0, ""); // PINGRESP
  }
}

export const MUTATIONS = ["bitflip", "truncate", "wronglength", "random", "len4", "len5", "huge", "type", "fields", "splice"];

/** a mutated packet: [name of the mutation, bytes] */
export function mutatedPacket(r) {
  const m = r.pick(MUTATIONS);
  let p = validPacket(r);
  const hdr = () => { let j = 1; while (j < p.length && p.charCodeAt(j) & 128) j++; return j + 1; };
  switch (m) {
    case "bitflip": {
      const n = 1 + r.int(3);
      for (let k = 0; k < n; k++) { const i = r.int(p.length); p = p.substring(0, i) + chr(p.charCodeAt(i) ^ (1 << r.int(8))) + p.substring(i + 1); }
      break;
    }
    case "truncate": p = p.substring(0, r.int(p.length)); break; // announces more than it has
    case "wronglength": { const h = hdr(), body = p.substring(h); p = p.charAt(0) + varint(Math.max(0, body.length + r.pick([-3, -2, -1, 1, 2, 5, 100]))) + body; break; }
    case "random": { let s = ""; const n = 1 + r.int(64); for (let k = 0; k < n; k++) s += chr(r.int(256)); p = s; break; }
    case "len4": { const h = hdr(), body = p.substring(h), n = body.length; // non-minimal 4-byte length
      p = p.charAt(0) + chr((n & 127) | 128, ((n >> 7) & 127) | 128, 128, 0) + body; break; }
    case "len5": p = p.charAt(0) + chr(255, 255, 255, 255, r.int(128)) + p.substring(hdr()); break; // over 4 bytes
    case "huge": p = p.charAt(0) + varint(r.pick([4097, 65536, 1 << 20, 268435455])) + p.substring(hdr()); break;
    case "type": p = chr(r.pick([0x00, 0xf0, 0x10, 0x80, 0xa2, 0xc0, 0xe0, 0x41, 0x52, 0x60, 0x3e, 0x36, 0x98, 0x2f])) + p.substring(1); break;
    case "fields": p = r.pick([
      pkt(0x30, u16(3) + "a\0b" + "x"), pkt(0x30, u16(3) + "a/+" + "x"), pkt(0x30, u16(2) + "\xc3\x28" + "x"), pkt(0x30, u16(0) + "x"),
      pkt(0x32, u16(1) + "t" + u16(0)), pkt(0x36, u16(1) + "t" + u16(1)), pkt(0x38, u16(1) + "t"), pkt(0x20, chr(0, 6)), pkt(0x20, chr(2, 0)),
      pkt(0x20, chr(1, 5)), pkt(0x40, u16(0)), pkt(0x40, u16(1) + "x"), pkt(0x90, u16(1)), pkt(0x90, u16(1) + chr(3)), pkt(0x40, ""),
      pkt(0xd0, "x"), pkt(0x30, u16(100) + "short"), pkt(0x30, "\xff"), pkt(0x20, ""),
    ]); break;
    case "splice": { const q = validPacket(r); p = p.substring(0, r.int(p.length)) + q.substring(r.int(q.length)); break; }
  }
  return [m, p];
}

// ---- a fake clock (timers fire only when advanced) ----
function fakeClock() {
  let now = 1e6, seq = 0, timers = [];
  return {
    now: () => now,
    setTimer(fn, ms, a) { const t = { id: ++seq, at: now + Math.max(0, ms), fn: () => fn(a) }; timers.push(t); return t.id; },
    clearTimer(id) { if (id) timers = timers.filter((t) => t.id !== id); },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        let best = null;
        for (const t of timers) if (t.at <= until && (!best || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t;
        if (!best) break;
        timers = timers.filter((x) => x !== best);
        now = best.at;
        best.fn();
      }
      now = until;
    },
    pending: () => timers.length,
  };
}

function gcFn() {
  try { v8.setFlagsFromString("--expose_gc"); return vm.runInNewContext("gc"); } catch { return null; }
}
function heapAfterGc(gc) { if (gc) { gc(); gc(); } return process.memoryUsage().heapUsed; }

function newStats() {
  return { mutated: 0, valid: 0, bytes: 0, chunks: 0, connections: 0, thrown: 0, firstThrow: null, errors: {}, byMutation: {},
    maxInflight: 0, maxQueued: 0, maxTimers: 0, heapStart: 0, heapEnd: 0, heapMax: 0, ms: 0, messages: 0 };
}
const bump = (o, k) => { o[k] = (o[k] || 0) + 1; };

/**
 * Drive `createClient` (the client factory of src/mqtt/client.ts or of the bundle) through its port:
 * `count` mutated packets in all, among valid ones (a third of what is sent is mutated).
 */
export function fuzzInProcess({ createClient, count = 100000, seed = 1, heapEvery = 20000 }) {
  const r = rng(seed), clock = fakeClock(), st = newStats(), gc = gcFn();
  let ev = null, open = false, writes = 0;
  const link = { write() { writes++; }, close() { open = false; } };
  const transport = (host, port, e) => {
    st.connections++;
    if (r() < 0.01) throw new Error("connection refused (as Espruino throws)");
    ev = e; open = true;
    return link;
  };
  const c = createClient({
    host: "fuzz", port: 1883, transport, clock, clientId: "fuzz", clean: r() < 0.5, keepalive: 10, connectTimeout: 5000,
    reconnect: { min: 10, max: 100, stable: 1000 }, maxPacketSize: 4096, queue: { maxMessages: 50, maxBytes: 8192 }, maxInflight: 10, random: r,
  });
  c.on("error", (e) => bump(st.errors, e && e.code || "?"));
  c.on("message", () => { st.messages++; });
  // application load: subscriptions and QoS 0/1/2 publishes keep ids and queues busy
  c.subscribe(["cmd/#", "a/+/c"], { qos: 2 });
  const guard = (fn) => { try { fn(); } catch (e) { st.thrown++; if (!st.firstThrow) st.firstThrow = (e && e.stack) || String(e); } };
  const t0 = Date.now();
  st.heapStart = heapAfterGc(gc);
  guard(() => c.connect());
  let nextHeap = heapEvery;
  while (st.mutated < count) {
    // a connection: CONNACK (sometimes mutated), then a batch of packets in random chunks
    if (!open) { clock.advance(150); continue; } // the reconnect timer (or connect timeout) fires
    guard(() => ev.open());
    if (!open) continue;
    let stream = r() < 0.05 ? mutatedPacket(r)[1] : pkt(0x20, chr(r() < 0.5 ? 1 : 0, 0));
    const n = 20 + r.int(400), muts = [];
    for (let k = 0; k < n; k++) {
      if (r() < 0.34) { const [m, p] = mutatedPacket(r); stream += p; muts.push([stream.length, m]); }
      else { stream += validPacket(r); muts.push([stream.length, ""]); }
    }
    let i = 0, mi = 0;
    while (i < stream.length && open) {
      const size = r() < 0.2 ? 1 : 1 + r.int(r() < 0.5 ? 16 : 2000);
      const chunk = stream.substring(i, i + size);
      i += chunk.length;
      st.chunks++; st.bytes += chunk.length;
      guard(() => ev.data(chunk));
      // count each packet whose last byte reached the client
      while (mi < muts.length && muts[mi][0] <= i) { if (muts[mi][1]) { st.mutated++; bump(st.byMutation, muts[mi][1]); } else st.valid++; mi++; }
      if (r() < 0.05) guard(() => c.publish(r.pick(["tele/x", "cmd/y"]), "m", { qos: r.int(3) }));
      if (r() < 0.01) clock.advance(r.int(20000)); // time passes: keepalive, PINGREQ, timeouts
    }
    st.maxInflight = Math.max(st.maxInflight, c.inflight());
    st.maxQueued = Math.max(st.maxQueued, c.queued());
    st.maxTimers = Math.max(st.maxTimers, clock.pending());
    if (open) { // the broker hangs up, or goes silent until keepalive notices
      if (r() < 0.5) guard(() => ev.close()); else clock.advance(16000);
      if (open) { guard(() => ev.close()); }
    }
    if (st.mutated >= nextHeap) { nextHeap += heapEvery; st.heapMax = Math.max(st.heapMax, heapAfterGc(gc)); }
  }
  guard(() => c.end(true));
  st.heapEnd = heapAfterGc(gc);
  st.heapMax = Math.max(st.heapMax, st.heapEnd);
  st.ms = Date.now() - t0;
  st.writes = writes;
  return st;
}

/**
 * A real net server on 127.0.0.1 writing mutated packets to the client over TCP, `count` mutated
 * packets in all. `makeClient(port)` returns an unconnected client with a real TCP transport.
 */
export async function fuzzSockets({ makeClient, count = 5000, seed = 2, maxMs = 60000 }) {
  const r = rng(seed), st = newStats();
  const uncaught = [];
  const onUncaught = (e) => uncaught.push(String((e && e.stack) || e));
  process.on("uncaughtException", onUncaught);
  const server = createServer((s) => {
    st.connections++;
    s.setNoDelay(true);
    s.on("error", () => {});
    let alive = true;
    s.on("close", () => { alive = false; });
    s.once("data", async () => { // the CONNECT
      let out = pkt(0x20, chr(0, 0));
      const n = 20 + r.int(300);
      for (let k = 0; k < n; k++) {
        if (r() < 0.34) { out += mutatedPacket(r)[1]; st.mutated++; } else { out += validPacket(r); st.valid++; }
      }
      for (let i = 0; i < out.length && alive;) {
        const size = 1 + r.int(r() < 0.3 ? 8 : 1500);
        s.write(Buffer.from(out.substring(i, i + size), "latin1"));
        st.chunks++; st.bytes += size;
        i += size;
        if (r() < 0.2) await new Promise((x) => setImmediate(x));
      }
      if (alive) s.end(); // the client reconnects
    });
  });
  await new Promise((x) => server.listen(0, "127.0.0.1", x));
  const port = server.address().port;
  const c = makeClient(port);
  c.on("error", (e) => bump(st.errors, e && e.code || "?"));
  c.on("message", () => { st.messages++; });
  const t0 = Date.now();
  c.connect();
  while (st.mutated < count && Date.now() - t0 < maxMs) {
    await new Promise((x) => setTimeout(x, 20));
    st.maxInflight = Math.max(st.maxInflight, c.inflight());
    st.maxQueued = Math.max(st.maxQueued, c.queued());
  }
  c.end(true);
  await new Promise((x) => server.close(x));
  process.off("uncaughtException", onUncaught);
  st.thrown = uncaught.length;
  st.firstThrow = uncaught[0] || null;
  st.ms = Date.now() - t0;
  return st;
}

// ---- as a script ----
function arg(name, def) {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function main() {
  const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const bundle = join(ROOT, "dist/mqtt-mcu.core.js");
  if (!existsSync(bundle)) spawnSync("node", ["build/build.mjs", "--quiet"], { cwd: ROOT, stdio: "inherit" });
  const lib = createRequire(import.meta.url)(bundle);
  const count = arg("count", 1000000), seed = arg("seed", Date.now() % 100000), sockets = arg("sockets", Math.ceil(count / 50));
  console.log(`fuzzing ${bundle} with ${count} mutated packets in process and ${sockets} over TCP, seed ${seed}`);
  const a = fuzzInProcess({ createClient: lib.createClient, count, seed, heapEvery: Math.max(10000, count / 20) });
  report("in process", a);
  // the bundle's own default transport (require("net")) and timers
  const b = await fuzzSockets({ count: sockets, seed: seed + 1, maxMs: 600000, makeClient: (port) => lib.createClient({
    host: "127.0.0.1", port, clientId: "fuzz-tcp", keepalive: 2, connectTimeout: 1000, reconnect: { min: 1, max: 5 },
  }) });
  report("over TCP", b);
  if (a.thrown || b.thrown) process.exitCode = 1;
}

function report(what, s) {
  const mb = (x) => (x / 1048576).toFixed(1) + " MB";
  console.log(`\n${what}: ${s.mutated} mutated + ${s.valid} valid packets, ${s.bytes} bytes in ${s.chunks} chunks, ${s.connections} connections, ${(s.ms / 1000).toFixed(1)} s`);
  console.log(`  uncaught exceptions: ${s.thrown}${s.firstThrow ? "\n  first: " + s.firstThrow : ""}`);
  console.log(`  errors reported: ${JSON.stringify(s.errors)}`);
  console.log(`  messages delivered: ${s.messages}; max inflight ${s.maxInflight}, max queued ${s.maxQueued}${s.maxTimers ? ", max timers " + s.maxTimers : ""}`);
  if (s.heapStart) console.log(`  heap after GC: start ${mb(s.heapStart)}, max ${mb(s.heapMax)}, end ${mb(s.heapEnd)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main().catch((e) => { console.error(e); process.exit(1); });

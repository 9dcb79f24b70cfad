// The BUILT core bundle (dist/mqtt-mcu.core.js) in the REAL JerryScript 3.0 (`jerry`, emu/real.ts): its
// default heap and a 64 KB heap. Skipped unless MQTT_MCU_JERRY and/or MQTT_MCU_JERRY_64K name the
// command. `jerry` has no sockets and no timers, so the driver (one JS file: the bundle, then the code
// below) gives the client the port's two parts itself: an in-process transport and a manual clock. A
// small broker in JS answers CONNECT, SUBSCRIBE and PINGREQ, and echoes every PUBLISH back to the
// subscriber with the acknowledgement flows of each QoS (PUBACK; PUBREC / PUBREL / PUBCOMP both ways),
// checking every packet the client sends. The bytes to the client arrive in chunks of varying sizes
// (1 to 97 bytes: packets split and coalesced).
//   - N round trips at each QoS (and one 4,000-byte message): every message comes back once with its
//     bytes, every publish callback
//     fires once, nothing stays in flight on either side, keepalive pings over the manual clock
//   - JerryScript's peak heap (`--mem-stats`) is printed, and for the 64 KB build the part of the heap
//     still free at the peak (figures, not targets: those live in `npm run bench`); the 64 KB build
//     must complete (no out-of-memory)
import { beforeAll, describe, expect, it } from "vitest";
import { interpreters, runJerry } from "../../emu/real";
import { coreBundle } from "../helpers/bundles";

const builds = ([["default heap", interpreters.jerry], ["64 KB heap", interpreters.jerry64]] as const)
  .filter((x): x is [typeof x[0], string] => !!x[1]);

/** The driver after the bundle. Prints "@@R <json>" at the end; throws (uncaught) on the first broken
 *  rule. `n` round trips at each QoS; `stage`: "load" is the bundle alone (and a line that prints its
 *  exports), "connect" stops once connected and subscribed. */
function driver(n: number, stage: "load" | "connect" | "all", big = 0): string {
  if (stage == "load") return `print("@@R " + JSON.stringify({ keys: Object.keys(exports).join(","), codes: exports.codes }));\n`;
  return `
var M = exports, R = { errors: [], pings: 0, chunks: 0, dupIn: 0 };
function fail(m) { throw new Error("driver: " + m); }

// ---- the clock: one-shot timers fired by advance() in time order
var now = 1000, timers = [], tseq = 0;
var clock = {
  now: function () { return now; },
  setTimer: function (fn, ms, a) { var id = ++tseq; timers.push({ id: id, at: now + ms, fn: function () { fn(a); } }); return id; },
  clearTimer: function (id) { for (var i = 0; i < timers.length; i++) if (timers[i].id === id) { timers.splice(i, 1); return; } }
};
function advance(ms) {
  var end = now + ms, i, k, t;
  for (;;) {
    for (k = -1, i = 0; i < timers.length; i++) if (timers[i].at <= end && (k < 0 || timers[i].at < timers[k].at)) k = i;
    if (k < 0) break;
    t = timers.splice(k, 1)[0]; now = t.at; t.fn(); pump();
  }
  now = end;
}

// ---- the link: bytes each way wait here until pump() delivers them (no call back into the client
// from inside its own write)
var ev = null, up = "", down = "", opened = 0, closed = 0, sizes = [1, 2, 5, 97, 3, 64, 13, 40], si = 0;
function transport(host, port, e) {
  if (ev) fail("a second link");
  ev = e; opened = 1;
  return { write: function (s) { if (closed) throw new Error("closed"); up += s; }, close: function () { closed = 1; } };
}
function pump() {
  var s, k;
  for (;;) {
    if (opened == 1) { opened = 2; ev.open(); continue; }
    if (up.length) { s = up; up = ""; feed(s); continue; }
    if (down.length) { k = sizes[si++ % sizes.length]; s = down.substr(0, k); down = down.substr(k); R.chunks++; ev.data(s); continue; }
    return;
  }
}

// ---- the broker
var chr = String.fromCharCode, buf = "", subs = [], bid = 0, outQ = {}, inQ2 = {}, connected = 0;
function u16(s, i) { return s.charCodeAt(i) << 8 | s.charCodeAt(i + 1); }
function w16(n) { return chr(n >> 8, n & 255); }
function send(h, body) { var n = body.length, l = "", d; do { d = n & 127; n >>= 7; l += chr(n ? d | 128 : d); } while (n); down += chr(h) + l + body; }
function feed(s) {
  var i, m, n, sh, b;
  buf += s;
  for (;;) {
    if (buf.length < 2) return;
    for (i = 1, n = 0, sh = 0; ; i++) {
      if (i >= buf.length) return;
      if (i > 4) fail("remaining length over 4 bytes");
      m = buf.charCodeAt(i); n += (m & 127) << sh; sh += 7;
      if (!(m & 128)) break;
    }
    if (buf.length < i + 1 + n) return;
    b = buf.substr(i + 1, n);
    m = buf.charCodeAt(0);
    buf = buf.substr(i + 1 + n);
    handle(m >> 4, m & 15, b);
  }
}
function forward(topic, qos, payload) {
  for (var i = 0; i < subs.length; i++) {
    var f = subs[i][0], q = Math.min(qos, subs[i][1]), id = 0;
    if (!(f == topic || f.substr(-2) == "/#" && topic.substr(0, f.length - 1) == f.substr(0, f.length - 1))) continue;
    if (q) { id = bid = bid % 65535 + 1; if (outQ[id]) fail("broker id " + id + " still in flight"); outQ[id] = q; }
    send(0x30 | q << 1, w16(topic.length) + topic + (q ? w16(id) : "") + payload);
  }
}
function handle(t, fl, b) {
  var id, i, tl, q, g, topic;
  if (t != 1 && !connected) fail("packet " + t + " before CONNECT");
  if (t == 1) {
    if (b.substr(0, 6) != chr(0, 4) + "MQTT" || b.charCodeAt(6) != 4) fail("CONNECT: not MQTT 3.1.1");
    R.keepalive = u16(b, 8); connected = 1; send(0x20, chr(0, 0));
  } else if (t == 8) {
    if (fl != 2) fail("SUBSCRIBE flags " + fl);
    id = u16(b, 0); g = "";
    for (i = 2; i < b.length; i += 3 + tl) { tl = u16(b, i); q = b.charCodeAt(i + 2 + tl); subs.push([b.substr(i + 2, tl), q]); g += chr(q); }
    send(0x90, w16(id) + g);
  } else if (t == 3) {
    q = fl >> 1 & 3; tl = u16(b, 0); topic = b.substr(2, tl); i = 2 + tl;
    if (q) { id = u16(b, i); i += 2; }
    if (q == 0) forward(topic, 0, b.substr(i));
    else if (q == 1) { send(0x40, w16(id)); forward(topic, 1, b.substr(i)); }
    else if (q == 2) { if (inQ2[id]) R.dupIn++; else inQ2[id] = [topic, b.substr(i)]; send(0x50, w16(id)); }
    else fail("PUBLISH QoS 3");
  } else if (t == 6) {
    if (fl != 2) fail("PUBREL flags " + fl);
    id = u16(b, 0); g = inQ2[id]; if (!g) fail("PUBREL for unknown id " + id);
    delete inQ2[id]; send(0x70, w16(id)); forward(g[0], 2, g[1]);
  } else if (t == 4) { id = u16(b, 0); if (outQ[id] != 1) fail("PUBACK for id " + id + " (" + outQ[id] + ")"); delete outQ[id]; }
  else if (t == 5) { id = u16(b, 0); if (outQ[id] != 2) fail("PUBREC for id " + id + " (" + outQ[id] + ")"); outQ[id] = 3; send(0x62, w16(id)); }
  else if (t == 7) { id = u16(b, 0); if (outQ[id] != 3) fail("PUBCOMP for id " + id + " (" + outQ[id] + ")"); delete outQ[id]; }
  else if (t == 12) { R.pings++; send(0xd0, ""); }
  else if (t == 14) { R.disconnect = 1; }
  else fail("unexpected packet type " + t);
}

// ---- the client
// each message is checked as it comes back (the driver keeps no payload: the heap is the client's)
var N = ${n}, seen = new Uint8Array(3 * N + 1), cur = -1, curBytes = "", bigHash = 0, gotN = 0, acked = 0, subbed = null;
function hash(p) { for (var i = 0, h = 0; i < p.length; i++) h = (h * 31 + p.charCodeAt(i)) | 0; return h; }
/** message i at QoS q: its index in the first 3 bytes, then bytes of every value; every third one text */
function bytes(q, i) { var a = [q, i >> 8, i & 255], k, len = (i * 37) % 300; for (k = 0; k < len; k++) a.push((i * 31 + k * 7) & 255); return a; }
function text(q, i) { return "q" + q + " #" + i + " hello"; }
function payload(q, i) { var a = bytes(q, i); return i % 3 == 0 ? text(q, i) : i % 3 == 1 ? new Uint8Array(a) : a; }
function expected(q, i) { return i % 3 == 0 ? text(q, i) : chr.apply(null, bytes(q, i)); }
var c = M.createClient({ clientId: "jerry", keepalive: 60, reconnect: 0, transport: transport, clock: clock });
c.on("error", function (e) { R.errors.push(e.code + " " + e.message); });
c.on("message", function (topic, p, pk) {
  var q = pk.qos;
  if (topic != "t/\\u20ac/" + q) fail("topic " + JSON.stringify(topic));
  if (cur < 0 || (curBytes === null ? p.length != BIG || hash(p) != bigHash : p !== curBytes)) fail("message " + cur + " came back changed, or one not sent");
  seen[cur]++; gotN++;
});
c.subscribe("t/\\u20ac/#", { qos: 2 }, function (e, g) { subbed = e ? e.code : g; });
c.connect();
pump();
if (!c.connected || !subbed || subbed[0].qos != 2) fail("not connected and subscribed: " + JSON.stringify(subbed));
if (${JSON.stringify(stage)} == "connect") print("@@R " + JSON.stringify(R)); else {

var q, i, before, cb = function (e) { if (e) fail("publish callback: " + e.code); acked++; };
for (q = 0; q <= 2; q++) for (i = 0; i < N; i++) {
  before = gotN; cur = q * N + i; curBytes = expected(q, i);
  c.publish("t/\\u20ac/" + q, payload(q, i), { qos: q }, cb);
  pump();
  advance(7);
  if (gotN != before + 1 || seen[cur] != 1) fail("QoS " + q + " message " + i + ": " + (gotN - before) + " back");
}
// one big message each way at QoS 2, checked by its length and a hash (no copy kept by the driver)
var BIG = ${big}, big, h;
if (BIG) {
  big = new Uint8Array(BIG); for (i = 0, h = 0; i < BIG; i++) { big[i] = (i * 13 + 5) & 255; h = (h * 31 + big[i]) | 0; }
  before = gotN; cur = 3 * N; curBytes = null; bigHash = h;
  c.publish("t/\\u20ac/2", big, { qos: 2 }, cb);
  big = null;
  pump(); advance(7);
  if (gotN != before + 1 || seen[cur] != 1) fail("the " + BIG + "-byte message: " + (gotN - before) + " back");
}
cur = -1; curBytes = "";
// idle: keepalive pings with the manual clock; the link stays up
advance(61000); advance(61000);
R.connected = c.connected; R.inflight = c.inflight(); R.queued = c.queued(); R.acked = acked; R.back = gotN;
R.brokerInFlight = Object.keys(outQ).length + Object.keys(inQ2).length;
for (i = 0, R.once = 0; i < 3 * N + (BIG ? 1 : 0); i++) if (seen[i] == 1) R.once++;
c.end();
pump();
R.closed = closed;
print("@@R " + JSON.stringify(R));
}
`;
}

describe.skipIf(!builds.length)("core bundle in real JerryScript 3.0 with an in-process broker", () => {
  let code: string;
  // (the bundle is module code: in a function of its own, as require() runs it, so its top-level names
  // do not meet the driver's)
  beforeAll(async () => { code = "var exports = {};\n(function (exports) {\n" + (await coreBundle()) + "\n})(exports);\n"; });


  /** run a driver: its result object and heap figures, or (status) why it did not finish */
  function run(exe: string, n: number, stage: "load" | "connect" | "all", big = 0) {
    const r = runJerry(exe, code + driver(n, stage, big));
    const m = r.out.match(/@@R (.*)/);
    const why = !m || r.status !== 0 ? `jerry exited ${r.status}${r.status == 10 ? " (out of memory)" : ""}:\n` +
      r.out.split("\n").filter((l) => !/^\s+(Peak|Allocated|Waste|Heap size)/.test(l)).slice(-12).join("\n") : null;
    return { res: m && !why ? JSON.parse(m[1]) : null, why, peak: r.peak!, heap: r.heap! };
  }
  const ok = (x: ReturnType<typeof run>) => { if (x.why) throw new Error(x.why); return x.res; };
  const free = (x: ReturnType<typeof run>) => `${x.heap - x.peak} B free at the peak`;

  for (const [build, exe] of builds) {
    it(`${build}: 100 round trips at each QoS, every message back once with its bytes; then a 4,000-byte message; peak heap printed`, () => {
      const N = 100;
      const load = run(exe, 0, "load"), conn = run(exe, 0, "connect"), all = run(exe, N, "all"), big = run(exe, 1, "all", 4000);
      expect(ok(load).keys).toBe("createClient,decodeUtf8,codes");
      expect(load.res.codes).toMatchObject({ TRANSPORT: "ETRANSPORT", TOPIC: "ETOPIC" });
      ok(conn);
      const r = ok(all);
      expect(r.errors).toEqual([]);
      expect(r).toMatchObject({ connected: true, inflight: 0, queued: 0, acked: 3 * N, back: 3 * N, once: 3 * N, brokerInFlight: 0, dupIn: 0, keepalive: 60, disconnect: 1, closed: 1 });
      expect(r.pings).toBeGreaterThanOrEqual(2); // at least one per keepalive period of the 122 s idle
      // a message near maxPacketSize (4,096): must pass with the default heap; on the 64 KB heap it is a figure
      if (build == "default heap" || !big.why) {
        expect(ok(big).errors).toEqual([]);
        expect(big.res).toMatchObject({ acked: 4, back: 4, once: 4, inflight: 0, brokerInFlight: 0 });
      }
      const goal = all.heap <= 65536 ? ` (goal: at least 16 KB free: ${all.heap - all.peak >= 16384 ? "met" : "NOT met"})` : "";
      console.log(`[core in JerryScript 3.0, ${build}: heap ${all.heap} B] peak allocated: the bundle loaded ${load.peak} B; ` +
        `with the driver (broker, clock, checks) connected and subscribed ${conn.peak} B; after ${3 * N} round trips ${all.peak} B, ` +
        `${free(all)}${goal}; 3 round trips and one of 4,000 bytes at QoS 2: ${big.why ? big.why.split("\n")[0] : `${big.peak} B, ${free(big)}`}`);
    });
  }
});

// The BUILT core bundle (dist/mqtt-mcu.core.js, top-level module code) on the REAL Espruino interpreter
// (2v29 built for Linux, emu/real.ts), run from Storage as a saved board runs it, against a real
// Mosquitto, watched by an independent client (the `mqtt` package). Skipped unless MQTT_MCU_ESPRUINO
// (and/or MQTT_MCU_ESPRUINO_1600, the ESP8266-sized build) names the interpreter.
//   - connect; QoS 0, 1 and 2 both ways (callbacks on PUBACK/PUBCOMP, not before; each message in
//     delivered once); binary payloads both ways, byte for byte; UTF-8 topics both ways
//   - the will, published by the broker when the link is cut without DISCONNECT (end(true), or the
//     interpreter killed), and not after a clean end()
//   - a broker restart on the same port: the client comes back, sends what it queued meanwhile and
//     resubscribes; what stays in memory does not grow with a second restart
//   - the interpreter printed no "Uncaught" / "OUT OF MEMORY"; the memory in blocks is printed (figures,
//     not targets: those live in `npm run bench`) and checked not to grow over 300 round trips
// Every test runs on each build named. The board is driven by a small JS driver saved as ".bootcde" (it
// prints tagged lines: @@CONNECT, @@MSG, @@PUBCB...) and by probes (b.exec, b.eval: emu/real.ts's
// control link). RT_DUMP=<dir> writes every board's console there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { writeFileSync } from "node:fs";
import { EspruinoBoard, interpreters } from "../../emu/real";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { coreBundle } from "../helpers/bundles";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const builds = ([["growable", interpreters.espruino], ["1600 blocks", interpreters.espruino1600]] as const)
  .filter((x): x is [typeof x[0], string] => !!x[1]);

/** a JS string literal with only ASCII in it (probes and Storage take bytes: \u escapes for the rest) */
const lit = (s: string) => JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
const hex = (b: Uint8Array | number[]) => Buffer.from(b).toString("hex");
const ALL = Array.from({ length: 256 }, (_, i) => i);
const EDGES = [0, 1, 0x7f, 0x80, 0xfe, 0xff, 0];

interface DriverOptions { port: number; id: string; will?: boolean; keepalive?: number }

/** .bootcde: loads the module from Storage, makes the client, reports every event as a tagged line.
 *  hx(): payload bytes as hex (a char code over 255 would show as more than 2 digits: caught); cc(): a
 *  string's char codes. pub()/sub(): one-line probes that report their callbacks. */
function driver(o: DriverOptions): string {
  return `var m = function () { return process.memory().usage; };
function hx(s) { var r = "", i = 0, h; for (; i < s.length; i++) { h = s.charCodeAt(i).toString(16); r += h.length < 2 ? "0" + h : h; } return r; }
function cc(s) { var r = [], i = 0; for (; i < s.length; i++) r.push(s.charCodeAt(i)); return r.join("."); }
var m0 = m();
var M = require("mqtt-mcu");
var mReq = m() - m0;
var c = M.createClient({ host: "127.0.0.1", port: ${o.port}, clientId: ${lit(o.id)}, keepalive: ${o.keepalive || 10},
  reconnect: { min: 100, max: 400 }${o.will ? `, will: { topic: ${lit("rt/will/" + o.id)}, payload: new Uint8Array([103, 111, 110, 101, 0, 255]), qos: 1 }` : ""} });
var mNew = m() - m0;
c.on("connect", function (k) { print("@@CONNECT " + (k.sessionPresent ? 1 : 0)); });
c.on("message", function (t, p, k) { print("@@MSG " + cc(t) + " " + k.qos + " " + (k.dup ? 1 : 0) + " " + hx(p)); });
c.on("error", function (e) { print("@@ERR " + e.code + " " + e.message); });
c.on("offline", function () { print("@@OFFLINE"); });
function pub(tag, t, p, q) { c.publish(t, p, { qos: q }, function (e) { print("@@PUBCB " + tag + " " + (e ? e.code + " " + e.message : "ok")); }); return 1; }
function sub(tag, f, q) { c.subscribe(f, { qos: q }, function (e, g) { print("@@SUBACK " + tag + " " + (e ? e.code + " " : "") + JSON.stringify(g)); }); return 1; }
c.connect();
`;
}

describe.skipIf(!builds.length || !hasMosquitto)("core bundle on real Espruino (2v29 for Linux) with Mosquitto", () => {
  let broker: Mosquitto, code: string, peer: MqttClient;
  const peerGot: { topic: string; payload: Buffer; qos: number; retain: boolean }[] = [];
  const boards: EspruinoBoard[] = [];

  beforeAll(async () => {
    [broker, code] = await Promise.all([startMosquitto(), coreBundle()]);
    peer = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4, reconnectPeriod: 100, clientId: "rt-peer-" + process.pid });
    peer.on("message", (topic, payload, p) => peerGot.push({ topic, payload, qos: p.qos, retain: p.retain }));
    await peer.subscribeAsync(["rt/out/#", "rt/will/#"], { qos: 2 });
  });
  afterAll(async () => {
    await stopBoards();
    await peer?.endAsync(true);
    await broker?.stop();
  });

  let dumped = 0;
  async function stopBoards() {
    for (const b of boards.splice(0)) {
      if (process.env.RT_DUMP) writeFileSync(`${process.env.RT_DUMP}/board${dumped++}.txt`, b.lines.join("\n"));
      await b.stop();
    }
  }
  async function boot(exe: string, o: DriverOptions) {
    const b = EspruinoBoard.start(exe, { "mqtt-mcu": code, ".bootcde": driver(o) });
    boards.push(b);
    await b.waitLine(/^@@CONNECT /, 10000);
    return b;
  }
  /** run one line of statements on the board */
  const run = (b: EspruinoBoard, stmts: string) => b.exec(stmts);
  const tagged = (b: EspruinoBoard, tag: string, from = 0) => b.lines.slice(from).filter((l) => l.startsWith(tag + " ") || l == tag);
  /** the board's @@MSG lines on topic `t`: [qos, dup, payload hex] */
  const msgs = (b: EspruinoBoard, t: string) => {
    const cc = Array.from(t, (ch) => ch.charCodeAt(0)).join(".");
    return tagged(b, "@@MSG").map((l) => l.split(" ")).filter((x) => x[1] == cc).map((x) => [+x[2], +x[3], x[4] || ""] as [number, number, string]);
  };
  async function until(what: string, b: EspruinoBoard | null, pred: () => boolean, ms = 5000) {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms; board's last lines:\n${b ? b.lines.slice(-12).join("\n") : ""}`);
      if (b && b.exited != null) throw new Error(`espruino exited (${b.exited}) waiting for ${what}:\n${b.lines.slice(-12).join("\n")}`);
      await sleep(20);
    }
  }
  const peerOn = (t: string) => peerGot.filter((m) => m.topic == t);
  /** since line `from`: no "Uncaught" / "OUT OF MEMORY" or other trouble printed (but `troubleOk`), no
   *  error event (but `errorsOk`) */
  function clean(b: EspruinoBoard, from: number, errorsOk: RegExp | null = null, troubleOk: RegExp | null = null) {
    expect(b.problems(from).filter((l) => !troubleOk || !troubleOk.test(l)), "the interpreter's trouble lines").toEqual([]);
    expect(tagged(b, "@@ERR", from).filter((l) => !errorsOk || !errorsOk.test(l)), "error events").toEqual([]);
  }


  for (const [build, exe] of builds) {
    describe(build, () => {
      afterAll(stopBoards);
      const id = `rt-${build == "growable" ? "g" : "e"}-${process.pid}`, P = `rt/out/${id}/`, IN = `rt/in/${id}/`;
      let b: EspruinoBoard, mem: Record<string, number> = {};

      it("connects; QoS 0, 1 and 2 out (callbacks on PUBACK / PUBCOMP, not before) and in (each once)", async () => {
        b = await boot(exe, { port: broker.port, id });
        const from = 0;
        mem.afterRequire = await b.eval("mReq");
        mem.created = await b.eval("mNew");
        expect(await b.eval("c.connected")).toBe(true);
        await run(b, `sub("s1", ${lit(IN + "#")}, 2)`);
        await b.waitLine((l) => l.startsWith("@@SUBACK s1 "));
        expect(tagged(b, "@@SUBACK s1")).toEqual([`@@SUBACK s1 ${JSON.stringify([{ topic: IN + "#", qos: 2 }])}`]);
        mem.connected = (await b.memory()).usage - (await b.eval("m0"));

        // out: with the broker frozen, QoS 1/2 wait for their acknowledgement; QoS 0 calls back once written
        broker.pause();
        try {
          await run(b, `pub("q0", ${lit(P + "q0")}, "zero", 0); pub("q1", ${lit(P + "q1")}, "one", 1); pub("q2", ${lit(P + "q2")}, "two", 2)`);
          await sleep(400);
          expect(tagged(b, "@@PUBCB")).toEqual(["@@PUBCB q0 ok"]);
          expect(await b.eval("c.inflight()")).toBe(2);
        } finally {
          broker.resume();
        }
        await until("PUBACK and PUBCOMP", b, () => tagged(b, "@@PUBCB").length >= 3);
        await until("3 messages at the peer", null, () => ["q0", "q1", "q2"].every((t) => peerOn(P + t).length));
        await sleep(300); // a duplicate would come now
        expect(tagged(b, "@@PUBCB").sort()).toEqual(["@@PUBCB q0 ok", "@@PUBCB q1 ok", "@@PUBCB q2 ok"]);
        expect(await b.eval("c.inflight()")).toBe(0);
        for (const [t, q, s] of [["q0", 0, "zero"], ["q1", 1, "one"], ["q2", 2, "two"]] as const)
          expect(peerOn(P + t).map((m) => [m.payload.toString("latin1"), m.qos]), t).toEqual([[s, q]]);

        // in: 5 messages at each QoS, each delivered exactly once, at its QoS
        const sent: string[] = [];
        for (let q = 0; q <= 2; q++) for (let i = 0; i < 5; i++) {
          const s = `m${q}-${i}`;
          sent.push(s);
          await peer.publishAsync(IN + "q", s, { qos: q as 0 | 1 | 2 });
        }
        await until("15 messages on the board", b, () => msgs(b, IN + "q").length >= 15);
        await sleep(400);
        const got = msgs(b, IN + "q");
        expect(got.map(([q, dup, h]) => [Buffer.from(h, "hex").toString("latin1"), q, dup]).sort())
          .toEqual(sent.map((s) => [s, +s[1], 0]).sort());
        // QoS 2 in is complete: the board answered PUBREL with PUBCOMP (Mosquitto has nothing in flight to it)
        expect(await b.eval("[c.inflight(), c.queued(), c.connected]")).toEqual([0, 0, true]);
        clean(b, from);
      });

      it("binary payloads both ways, byte for byte", async () => {
        const from = b.lines.length;
        // one at a time (each waits for its callback): on the 1,600-block build a 256-byte payload needs
        // hundreds of blocks while it is converted, and the driver's own probes take their share
        await run(b, `var u = new Uint8Array(256); for (var i = 0; i < 256; i++) u[i] = i`);
        const outs: [string, string, number][] = [["u8", "u", 1], ["bin0", "u", 0], ["arr", JSON.stringify(EDGES), 1],
          ["e8", `new Uint8Array(${JSON.stringify(EDGES)})`, 2], ["view", "u.subarray(250)", 1], ["text", lit("ü€"), 1]];
        for (const [t, p, q] of outs) {
          await run(b, `pub(${lit(t)}, ${lit(P + t)}, ${p}, ${q})`);
          await b.waitLine((l) => l.startsWith(`@@PUBCB ${t} `));
        }
        await run(b, "u = undefined");
        await until("6 binary messages at the peer", b, () => outs.every(([t]) => peerOn(P + t).length));
        expect(outs.map(([t]) => tagged(b, "@@PUBCB " + t))).toEqual(outs.map(([t]) => [`@@PUBCB ${t} ok`]));
        const out = (t: string) => peerOn(P + t).map((m) => hex(m.payload));
        expect(out("u8")).toEqual([hex(ALL)]);
        expect(out("bin0")).toEqual([hex(ALL)]);
        expect(out("arr")).toEqual([hex(EDGES)]);
        expect(out("e8")).toEqual([hex(EDGES)]);
        expect(out("view")).toEqual([hex(ALL.slice(250))]);
        expect(out("text")).toEqual([Buffer.from("ü€", "utf8").toString("hex")]); // a string is text: UTF-8

        for (let q = 0; q <= 2; q++) {
          await peer.publishAsync(IN + "bin" + q, Buffer.from(ALL), { qos: q as 0 | 1 | 2 });
          await peer.publishAsync(IN + "edge" + q, Buffer.from(EDGES), { qos: q as 0 | 1 | 2 });
        }
        await until("6 binary messages on the board", b, () => [0, 1, 2].every((q) => msgs(b, IN + "bin" + q).length && msgs(b, IN + "edge" + q).length));
        await sleep(200);
        for (let q = 0; q <= 2; q++) {
          expect(msgs(b, IN + "bin" + q), "all 256 bytes in at QoS " + q).toEqual([[q, 0, hex(ALL)]]);
          expect(msgs(b, IN + "edge" + q), "00 01 7F 80 FE FF 00 in at QoS " + q).toEqual([[q, 0, hex(EDGES)]]);
        }
        clean(b, from);
      });

      it("UTF-8 topics both ways", async () => {
        const from = b.lines.length;
        // out: ü (2 bytes in UTF-8), € (3), 😀 (4: one character on Espruino, a surrogate pair in Node)
        const tOut = P + "ü/€/😀";
        await run(b, `pub("utf8", ${lit(tOut)}, "x", 1)`);
        await b.waitLine((l) => l.startsWith("@@PUBCB utf8 "), 5000, from);
        await until("the UTF-8 topic at the peer", b, () => peerOn(tOut).length > 0);
        expect(peerOn(tOut).map((m) => m.payload.toString())).toEqual(["x"]);

        // in: through a filter with UTF-8 in it, each topic arrives as the string the program would write
        // for it (a literal with the same text: the board's own char codes for it)
        const U = `rt/u/${id}/ü/`, topics = ["ü", "€", "😀"].map((x) => U + x);
        await run(b, `sub("s2", ${lit(U + "#")}, 1)`);
        await b.waitLine((l) => l.startsWith("@@SUBACK s2 "), 5000, from);
        for (const t of topics) await peer.publishAsync(t, "y", { qos: 1 });
        const want: string[] = await b.eval(`[${topics.map((t) => `cc(${lit(t)})`).join(", ")}]`);
        const on = (cc: string) => tagged(b, "@@MSG", from).map((l) => l.split(" ")).filter((x) => x[1] == cc);
        await until("the UTF-8 topics on the board", b, () => want.every((w) => on(w).length > 0) || tagged(b, "@@ERR", from).length > 0);
        await sleep(300);
        expect(topics.map((t, i) => [t, on(want[i]).map((x) => Buffer.from(x[4], "hex").toString())])).toEqual(topics.map((t) => [t, ["y"]]));
        clean(b, from);
        expect(await b.eval("c.connected")).toBe(true);
      });

      if (build != "growable") it("memory in blocks: steady over 300 more round trips at QoS 0, 1 and 2", async () => {
        // each message that comes back sends the next; a warm-up of 30 round trips at each QoS, then 100
        // more each: what stays after GC must not grow
        const T = P + "loop", from = b.lines.length;
        await run(b, `sub("s3", ${lit(T)}, 2); var nIn = 0, left = 0, lq = 0;
          c.on("message", function (t) { if (t != ${lit(T)}) return; nIn++; if (--left > 0) c.publish(t, "hello world 1234", { qos: lq }); else print("@@LOOP " + nIn); });
          function loop(n, q) { left = n; lq = q; c.publish(${lit(T)}, "hello world 1234", { qos: q }); }`);
        await b.waitLine((l) => l.startsWith("@@SUBACK s3 "));
        const defined = (await b.memory()).usage - (await b.eval("m0")); // the loop's code is in RAM (sent as text)
        let want = 0;
        const round = async (n: number) => {
          for (let q = 0; q <= 2; q++) {
            want += n;
            await run(b, `loop(${n}, ${q})`);
            await b.waitLine((l) => l == "@@LOOP " + want, 15000);
          }
          return (await b.memory()).usage - (await b.eval("m0"));
        };
        const warm = await round(30);
        const after = await round(100);
        const m = await b.memory();
        console.log(`[core on Espruino ${build}] blocks (blocksize ${m.blocksize}, total ${m.total}) above the driver's own: require +${mem.afterRequire}, ` +
          `createClient +${mem.created}, connected and subscribed +${mem.connected}; with the loop's code +${defined}, after 90 round trips +${warm}, ` +
          `after 300 more +${after}; free ${m.free} (the control link's ~50 blocks included)`);
        // a leak of one block a message would be 300; what is seen is 0-3 from run to run, with the
        // socket's buffers and the timer at the moment of reading (the bench's growth over 2,000 is as small)
        expect(after - warm).toBeLessThanOrEqual(3);
        clean(b, from);
      });

      it("the will: published by the broker when the link is cut (end(true), the interpreter killed), not after end()", async () => {
        const w = (x: string) => `rt-w${x}-${id}`, will = (x: string) => "rt/will/" + w(x);
        const [a, f, k] = await Promise.all(["a", "f", "k"].map((x) => boot(exe, { port: broker.port, id: w(x), will: true })));
        await run(a, "c.end()");      // DISCONNECT: the broker drops the will
        await run(f, "c.end(true)");  // closed without DISCONNECT
        await k.stop();               // the interpreter killed: the kernel closes its socket
        await until("the wills of the cut links", null, () => peerOn(will("f")).length > 0 && peerOn(will("k")).length > 0);
        await sleep(300);
        for (const x of ["f", "k"]) expect(peerOn(will(x)).map((m) => [hex(m.payload), m.qos]), x).toEqual([["676f6e6500ff", 1]]);
        expect(peerOn(will("a"))).toEqual([]);
        // an ended client stays down
        expect(await a.eval("c.connected")).toBe(false);
        expect(await f.eval("c.connected")).toBe(false);
        expect([tagged(a, "@@CONNECT").length, tagged(f, "@@CONNECT").length]).toEqual([1, 1]);
        clean(a, 0); clean(f, 0); clean(k, 0);
      });

      it("a broker restart on the same port: comes back, sends what it queued, resubscribes", async () => {
        // its own broker (persistent: the peer's session and what is queued for it survive the restart)
        const br = await startMosquitto({ persistence: true });
        const rid = "rt-r-" + id, T = `rt/rc/${rid}/`;
        const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${br.port}`, { protocolVersion: 4, reconnectPeriod: 100, clean: false, clientId: "w-" + rid });
        const wGot: string[] = [];
        watcher.on("message", (t, p) => wGot.push(t + "=" + p.toString()));
        try {
          await watcher.subscribeAsync(T + "out", { qos: 1 });
          const r = await boot(exe, { port: br.port, id: rid, keepalive: 5 });
          await run(r, `sub("r1", ${lit(T + "in")}, 1)`);
          await r.waitLine((l) => l.startsWith("@@SUBACK r1 "));
          const before = (await r.memory()).usage;

          await br.down();
          await r.waitLine((l) => l == "@@OFFLINE");
          await run(r, `pub("down", ${lit(T + "out")}, "sent while down", 1)`);
          await sleep(500); // a few refused attempts (connect() throws on Espruino)
          expect(await r.eval("[c.connected, c.queued() + c.inflight()]")).toEqual([false, 1]);
          await br.up();
          await until("the second CONNACK", r, () => tagged(r, "@@CONNECT").length >= 2, 10000);
          await r.waitLine((l) => l.startsWith("@@PUBCB down "));
          await until("the queued message at the watcher", r, () => wGot.length > 0);

          // resubscribed: a message published after the restart arrives (tried until the SUBACK is in)
          let n = 0;
          while (!msgs(r, T + "in").length && n < 25) { await watcher.publishAsync(T + "in", "after " + n++, { qos: 1 }); await sleep(200); }
          await sleep(300);
          const got = msgs(r, T + "in").map((x) => Buffer.from(x[2], "hex").toString());
          expect(got.length).toBeGreaterThan(0);
          expect(got).toEqual(Array.from({ length: got.length }, (_, i) => "after " + (n - got.length + i))); // each once, none after the first lost
          expect(tagged(r, "@@PUBCB down")).toEqual(["@@PUBCB down ok"]);
          expect(wGot).toEqual([T + "out=sent while down"]);
          // a second restart: what stays after it must be what stayed after the first (no block kept per
          // reconnection; the first one leaves a few for good)
          const after1 = (await r.memory()).usage;
          await br.restart();
          await until("the third CONNACK", r, () => tagged(r, "@@CONNECT").length >= 3, 10000);
          await sleep(300);
          const after2 = (await r.memory()).usage;
          console.log(`[core on Espruino ${build}] blocks in use before the broker restart ${before}, after reconnecting ${after1}, after another restart ${after2}`);
          expect(after2 - after1).toBeLessThanOrEqual(2);
          // Espruino prints its own "ERROR: Connect failed (err 111)" for each refused connect()
          clean(r, 0, /^@@ERR ETRANSPORT /, /^ERROR: Connect failed/);
        } finally {
          await watcher.endAsync(true);
          await br.stop();
        }
      });
    });
  }
});

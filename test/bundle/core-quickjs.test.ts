// The BUILT core bundle (dist/mqtt-mcu.core.js, as `npm run build` makes it) in QuickJS with the
// Espruino API emulated (emu/espruino.ts: its traps included), against a real Mosquitto,
// watched by an independent client (the `mqtt` package).
//   - connect, subscribe, publish, receive, binary payloads intact both ways
//   - a broker restart: the client reconnects and resubscribes
//   - allocations per message at steady state (1,000 QoS 0 publishes, 1,000 received messages), counted
//     by the malloc counter patched into the QuickJS wasm, net of the emulation's own per-event and
//     per-write cost (measured the same way on a raw socket); and memory after GC stays flat.
//     The figures are printed; only a sanity bound is asserted (targets live in `npm run bench`).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { createServer, Server, Socket } from "node:net";
import { createEspruino, Espruino } from "../../emu/espruino";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { coreBundle } from "../helpers/bundles";
import { encode, PUBLISH } from "../../src/mqtt/packets";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasMosquitto)("core bundle in QuickJS (Espruino emulation) with Mosquitto", () => {
  let broker: Mosquitto, code: string, peer: MqttClient;
  const peerGot: { topic: string; payload: Buffer }[] = [];
  let emu: Espruino | null = null;

  beforeAll(async () => {
    [broker, code] = await Promise.all([startMosquitto(), coreBundle()]);
    peer = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4, reconnectPeriod: 100, clientId: "peer-" + process.pid });
    peer.on("message", (topic, payload) => peerGot.push({ topic, payload }));
    await peer.subscribeAsync("emu/out/#");
  });
  afterEach(() => {
    emu?.dispose();
    emu = null;
  });
  /** the bundle ran into no Espruino trap and threw nothing uncaught */
  function clean(e: Espruino) {
    expect(e.uncaught, "uncaught exceptions in the VM").toEqual([]);
    expect(e.warnings, "Espruino traps hit by the bundle").toEqual([]);
  }
  afterAll(async () => {
    emu?.dispose();
    await peer?.endAsync(true);
    await broker?.stop();
  });

  /** a fresh emulated board with the core loaded as module "mqtt-mcu" and a client `c` connected */
  async function boot(clientId: string, extra = "") {
    emu = await createEspruino({ board: "espruino-linux", memoryLimit: 4000 });
    emu.load(code, "mqtt-mcu");
    emu.eval(`var mq = require("mqtt-mcu"), got = [], errs = [], ev = [];
      var c = mq.createClient({ host: "127.0.0.1", port: ${broker.port}, clientId: ${JSON.stringify(clientId)}, keepalive: 30,
        reconnect: { min: 100, max: 1000 } ${extra} });
      c.on("connect", function () { ev.push("connect"); });
      c.on("offline", function () { ev.push("offline"); });
      c.on("error", function (e) { errs.push(e.code + ": " + e.message); });
      c.connect();`);
    await emu.runUntil(() => emu!.eval("c.connected"), 5000, "CONNACK");
    return emu;
  }

  it("connects, subscribes, publishes and receives; bytes cross intact both ways", async () => {
    const e = await boot("emu-core-1");
    e.eval(`c.on("message", function (t, p) { got.push([t, p.length, E.toUint8Array(p).join(",")]); });
      var granted = null; c.subscribe("emu/in/#", { qos: 1 }, function (err, g) { granted = err ? err.message : g; });`);
    await e.runUntil(() => e.eval("granted !== null"), 5000, "SUBACK");
    expect(e.eval("granted")).toEqual([{ topic: "emu/in/#", qos: 1 }]);

    // out: a binary payload (NUL, 0x80, 0xff; bytes as a Uint8Array: a string payload is text, sent as
    // UTF-8) at QoS 0, a text one at QoS 1 on a UTF-8 topic
    const from = peerGot.length;
    e.eval(`var acked = 0; c.publish("emu/out/bin", new Uint8Array([0, 1, 128, 255]));
      c.publish("emu/out/q1/\\u00fc", "x", { qos: 1 }, function (err) { acked = err ? -1 : 1; });`);
    await e.runUntil(() => e.eval("acked") !== 0, 5000, "PUBACK");
    expect(e.eval("acked")).toBe(1);
    for (let i = 0; i < 100 && peerGot.length < from + 2; i++) await sleep(10);
    const out = peerGot.slice(from);
    expect(out.map((m) => m.topic)).toEqual(["emu/out/bin", "emu/out/q1/ü"]);
    expect([...out[0].payload]).toEqual([0, 1, 0x80, 0xff]);

    // bytes publish exactly their bytes: Espruino's subarray does not clamp its end, so slicing a payload
    // in chunks of 200 sent 200 bytes for 7 (zeros), or the bytes after a view of a bigger buffer
    const from2 = peerGot.length, big = Array.from({ length: 450 }, (_, i) => (i * 7) & 255);
    e.eval(`var n2 = 0, done2 = function () { n2++; }, big = new Uint8Array(${JSON.stringify(big)});
      c.publish("emu/out/u8", new Uint8Array([0, 1, 0x7f, 0x80, 0xfe, 0xff, 0]), { qos: 1 }, done2);
      c.publish("emu/out/arr", [0, 1, 0x7f, 0x80, 0xfe, 0xff, 0], { qos: 1 }, done2);
      c.publish("emu/out/big", big, { qos: 1 }, done2);
      c.publish("emu/out/view", big.subarray(3, 10), { qos: 1 }, done2);`);
    await e.runUntil(() => e.eval("n2") === 4, 5000, "4 PUBACKs");
    for (let i = 0; i < 100 && peerGot.length < from2 + 4; i++) await sleep(10);
    expect(peerGot.slice(from2).map((m) => [m.topic, [...m.payload].join(",")])).toEqual([
      ["emu/out/u8", "0,1,127,128,254,255,0"], ["emu/out/arr", "0,1,127,128,254,255,0"],
      ["emu/out/big", big.join(",")], ["emu/out/view", big.slice(3, 10).join(",")],
    ]);

    // in: binary payloads at QoS 0, 1 and 2
    await peer.publishAsync("emu/in/a", Buffer.from([0, 255, 13, 10]), { qos: 0 });
    await peer.publishAsync("emu/in/b", Buffer.from([0x80, 0]), { qos: 1 });
    await peer.publishAsync("emu/in/c", Buffer.from("ünï", "utf8"), { qos: 2 });
    await e.runUntil(() => e.eval("got.length") === 3, 5000, "3 messages");
    expect(e.eval("got")).toEqual([["emu/in/a", 4, "0,255,13,10"], ["emu/in/b", 2, "128,0"], ["emu/in/c", 5, [...Buffer.from("ünï", "utf8")].join(",")]]);
    expect(e.eval("errs")).toEqual([]);
    clean(e);
  });

  it("survives a broker restart: reconnects and resubscribes", async () => {
    const e = await boot("emu-core-2");
    e.eval(`c.on("message", function (t, p) { got.push(t + "=" + p); });
      var subbed = 0; c.subscribe("emu/in/#", function (err) { subbed = err ? -1 : 1; });`);
    await e.runUntil(() => e.eval("subbed") !== 0, 5000, "SUBACK");
    await broker.restart();
    await e.runUntil(() => e.eval("ev.filter(function (x) { return x == 'connect'; }).length") === 2, 15000, "reconnect after the restart");
    expect(e.eval("ev")).toEqual(["connect", "offline", "connect"]);
    // the new session has the subscription again (clean session: the client renewed it)
    await sleep(200);
    for (let i = 0; i < 20 && !e.eval("got.length"); i++) {
      await peer.publishAsync("emu/in/after", "restart");
      await e.run(100);
    }
    expect(e.eval("got[0]")).toBe("emu/in/after=restart");
    expect(e.eval("errs.every(function (x) { return /^ETRANSPORT/.test(x); })")).toBe(true);
    clean(e);
  });

  // A cleared or fired timer's id is free again on Espruino: the next setTimeout takes it when it was the
  // highest ("highest live id + 1"). A client that clears a stale id cancels whoever holds it now.
  // The client forgets a timer's id once it fired or was cleared, so it never clears a reused id.
  it("a stale timer id never cancels an application timer (keepalive 0, link lost)", async () => {
    const e = await boot("emu-core-3", ", keepalive: 0");
    e.eval(`var fired = 0, appTimer = setTimeout(function () { fired = 1; }, 1500);`);
    await broker.restart();
    await e.runUntil(() => e.eval("ev.length") >= 3, 15000, "reconnect");
    await e.run(1600);
    expect(e.eval("fired")).toBe(1);
    clean(e);
  });

  it("allocations per message at steady state, and memory after GC stays flat", async () => {
    const T = "emu/out/alloc", IN = "emu/in/alloc", P = "t=23.45;h=48.20;";
    const pubPacket = encode({ type: PUBLISH, topic: T, payload: P, qos: 0 });
    const inPacket = encode({ type: PUBLISH, topic: IN, payload: P, qos: 0 });
    const N = 1000;

    // raw sockets for the emulation's own cost: a sink for writes, a source of data events
    let src: Socket | null = null;
    const conns: Socket[] = [];
    const sink: Server = createServer((s) => { conns.push(s); s.on("data", () => {}); s.on("error", () => {}); });
    const source: Server = createServer((s) => { conns.push(s); src = s; s.on("error", () => {}); });
    await Promise.all([sink, source].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))));
    try {
      const e = await boot("emu-core-alloc");
      e.eval(`var nrx = 0; c.on("message", function () { nrx++; });
        var subbed = 0; c.subscribe(${JSON.stringify(IN)}, function (err) { subbed = err ? -1 : 1; });
        var T = ${JSON.stringify(T)}, P = ${JSON.stringify(P)};
        function pubN(n) { for (var i = 0; i < n; i++) c.publish(T, P); }
        var raw = require("net").connect({ host: "127.0.0.1", port: ${(sink.address() as any).port} }), rawOpen = 0;
        raw.on("connect", function () { rawOpen = 1; });
        var PKT = ${JSON.stringify(pubPacket)};
        function rawN(n) { for (var i = 0; i < n; i++) raw.write(PKT); }
        var rin = require("net").connect({ host: "127.0.0.1", port: ${(source.address() as any).port} });
        rin.on("data", function (d) {});`);
      await e.runUntil(() => e.eval("subbed") === 1 && e.eval("rawOpen") === 1 && src !== null, 5000, "SUBACK and raw sockets");

      /** allocations of `fn(n)` per call, net of calling it (fn(0)) */
      const perCall = (fn: string) => {
        e.eval(`${fn}(50)`);
        let a = e.mallocCount(), b = e.mallocBytes();
        e.eval(`${fn}(0)`);
        const zero = e.mallocCount() - a, zeroB = e.mallocBytes() - b;
        a = e.mallocCount(); b = e.mallocBytes();
        e.eval(`${fn}(${N})`);
        return { allocs: (e.mallocCount() - a - zero) / N, bytes: (e.mallocBytes() - b - zeroB) / N };
      };
      /** allocations while the broker sends N messages (the predicate reads host state only: no VM code) */
      const receive = async () => {
        const d0 = e.stats.dataBytes, a = e.mallocCount(), b = e.mallocBytes();
        e.dataSizes = [];
        for (let i = 0; i < N; i++) peer.publish(IN, P, { qos: 0 });
        await e.runUntil(() => e.stats.dataBytes >= d0 + N * inPacket.length, 15000, `${N} messages`);
        const sizes = e.dataSizes;
        e.dataSizes = null;
        return { allocs: e.mallocCount() - a, bytes: e.mallocBytes() - b, sizes };
      };
      /** the emulation's cost of delivering data events of these sizes to a socket with a listener that does nothing */
      const replay = async (sizes: number[]) => {
        const stream = Buffer.from(inPacket.repeat(N), "latin1");
        let a = 0, b = 0, off = 0;
        for (const n of sizes) {
          const target = e.stats.dataBytes + n, a0 = e.mallocCount(), b0 = e.mallocBytes();
          src!.write(stream.subarray(off, off + n));
          off += n;
          await e.runUntil(() => e.stats.dataBytes >= target, 5000, "replayed chunk");
          a += e.mallocCount() - a0; b += e.mallocBytes() - b0;
        }
        return { allocs: a, bytes: b };
      };

      // warm up every path once, then measure from a collected heap
      perCall("pubN"); perCall("rawN");
      await receive();
      await e.runUntil(() => e.eval("nrx") >= N, 5000, "warm-up messages");
      e.gc();
      const m0 = e.memory();

      const pub = perCall("pubN"), rawW = perCall("rawN");
      e.eval("nrx = 0");
      const rx = await receive();
      expect(e.eval("nrx")).toBe(N);
      const ev = await replay(rx.sizes!);

      e.gc();
      const m1 = e.memory();
      const pubNet = pub.allocs - rawW.allocs, rxNet = (rx.allocs - ev.allocs) / N;
      const fig = {
        "publish QoS 0: allocations/message (net of socket.write)": +pubNet.toFixed(2),
        "publish QoS 0: bytes allocated/message (net)": Math.round(pub.bytes - rawW.bytes),
        "receive QoS 0: allocations/message (net of data events)": +rxNet.toFixed(2),
        "receive QoS 0: bytes allocated/message (net)": Math.round((rx.bytes - ev.bytes) / N),
        "raw: publish / socket.write / receive / data events per message": [pub.allocs, rawW.allocs, rx.allocs / N, ev.allocs / N].map((x) => +x.toFixed(2)).join(" / "),
        "data events for 1,000 received messages": rx.sizes!.length,
        "live blocks after GC, before -> after 2,000 messages": `${m0.programBlocks} -> ${m1.programBlocks}`,
        "QuickJS bytes in use after GC, before -> after": `${m0.programBytes} -> ${m1.programBytes}`,
        "process.memory() (blocks)": JSON.stringify(e.eval("(function (m) { return { usage: m.usage, free: m.free, total: m.total }; })(process.memory())")),
      };
      console.log("\ncore bundle in QuickJS, steady state (target: <= 5 allocations/message; the ratio is tracked in npm run bench)\n" +
        Object.entries(fig).map(([k, v]) => `  ${k.padEnd(62)} ${v}`).join("\n"));

      expect(pubNet).toBeLessThan(200);
      expect(rxNet).toBeLessThan(200);
      // flat: nothing per message is kept (a few blocks of noise allowed)
      expect(Math.abs(m1.programBlocks - m0.programBlocks)).toBeLessThan(20);
      expect(e.eval("errs")).toEqual([]);
      clean(e);
    } finally {
      emu?.dispose();
      emu = null;
      for (const s of conns) s.destroy();
      await Promise.all([sink, source].map((s) => new Promise((r) => s.close(r))));
    }
  }, 60000);
});

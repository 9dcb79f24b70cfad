// Issue 7 (e): soak. The BUILT core bundle (dist/mqtt-mcu.core.js; built here when missing) in
// QuickJS under a memory cap, with the Espruino API emulated (emu/espruino.ts), against a
// real Mosquitto: 10,000 QoS 1 messages each way (the device publishes, an independent peer publishes
// to the device), in rounds of 500 + 500. After every 1,000 each way a full GC, and the live blocks are
// sampled: memory after GC must stay flat (first vs last sample reported), and the allocations made per
// message are reported (gross: the emulation's socket events and writes included).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
// the emulation is another developer's helper: imported by path so this file typechecks without it
const EMU = join(ROOT, "emu/espruino.ts");
const hasEmu = existsSync(EMU);
const N = 10000, ROUND = 500, SAMPLE = 1000;
const MEMORY_LIMIT = 6000; // blocks (live QuickJS allocations) above the emulation's baseline

function coreBundle(): string {
  const f = join(ROOT, "dist/mqtt-mcu.core.js");
  if (!existsSync(f)) {
    const r = spawnSync(process.execPath, ["build/build.mjs", "--quiet"], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error("build failed: " + r.stderr);
  }
  return readFileSync(f, "utf8");
}

describe.skipIf(!hasMosquitto || !hasEmu)("soak: 10,000 messages each way through the built bundle in QuickJS", () => {
  let broker: Mosquitto, peer: MqttClient, emu: any;
  let peerGot = 0;
  beforeAll(async () => {
    broker = await startMosquitto({ extraConf: "set_tcp_nodelay true\nmax_queued_messages 20000" });
    peer = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4, clientId: "soak-peer-" + process.pid });
    if ((peer as any).stream?.setNoDelay) (peer as any).stream.setNoDelay(true);
    peer.on("message", () => { peerGot++; });
    await peer.subscribeAsync("soak/out", { qos: 1 });
  });
  afterAll(async () => {
    emu?.dispose();
    await peer?.endAsync(true);
    await broker?.stop();
  });

  it("memory after GC flat, allocations per message reported, nothing lost", async () => {
    const { createEspruino } = await import(/* @vite-ignore */ pathToFileURL(EMU).href);
    emu = await createEspruino({ board: "espruino-linux", memoryLimit: MEMORY_LIMIT });
    emu.load(coreBundle(), "mqtt-mcu");
    emu.eval(`var mq = require("mqtt-mcu"), errs = [], nin = 0, acked = 0, nout = 0, bad = 0;
      var c = mq.createClient({ host: "127.0.0.1", port: ${broker.port}, clientId: "soak-dev", keepalive: 30,
        reconnect: { min: 100, max: 1000 }, queue: { maxMessages: 100, maxBytes: 8192 } });
      c.on("error", function (e) { errs.push(e.code + ": " + e.message); });
      c.on("message", function (t, p) { if (p.length == 16) nin++; else bad++; });
      var subbed = 0; c.subscribe("soak/in", { qos: 1 }, function (e) { subbed = e ? -1 : 1; });
      function onAck(e) { if (e) errs.push("publish " + e.code); else acked++; }
      // publish k more, never more than the client's queue holds
      function pubN(k) { for (var i = 0; i < k; i++) c.publish("soak/out", "t=23.45;h=48.20;", { qos: 1 }, onAck); nout += k; }
      c.connect();`);
    await emu.runUntil(() => emu.eval("subbed") === 1, 5000, "SUBACK");

    const P = "t=23.45;h=48.20;";
    const samples: { n: number; blocks: number; bytes: number }[] = [];
    const sample = (n: number) => { emu.gc(); const m = emu.memory(); samples.push({ n, blocks: m.programBlocks, bytes: m.programBytes }); };
    // warm-up round (first connection state, first packets of each kind), then the first sample
    const round = async (k: number) => {
      const nout0 = emu.eval("nout"), nin0 = emu.eval("nin");
      for (let i = 0; i < k; i++) peer.publish("soak/in", P, { qos: 1 });
      for (let sent = 0; sent < k;) { // out: 50 at a time, as acks free the queue
        const burst = Math.min(50, k - sent);
        emu.eval(`pubN(${burst})`);
        sent += burst;
        await emu.runUntil(() => emu.eval("acked") >= nout0 + sent - 50, 10000, "acks for the outgoing messages");
      }
      await emu.runUntil(() => emu.eval("acked") === nout0 + k && emu.eval("nin") === nin0 + k, 20000, `round of ${k} each way`);
    };
    await round(100);
    sample(0);
    const a0 = emu.mallocCount(), b0 = emu.mallocBytes(), t0 = Date.now();
    for (let n = 0; n < N;) {
      await round(ROUND);
      n += ROUND;
      if (n % SAMPLE === 0) sample(n);
    }
    const ms = Date.now() - t0;
    const allocs = emu.mallocCount() - a0, bytes = emu.mallocBytes() - b0;
    await new Promise((r) => setTimeout(r, 200));
    const first = samples[0], last = samples[samples.length - 1];
    const fig = {
      messages: { out: emu.eval("acked") - 100, in: emu.eval("nin") - 100, peerReceived: peerGot - 100 },
      liveBlocksAfterGc: { first: first.blocks, last: last.blocks, min: Math.min(...samples.map((s) => s.blocks)), max: Math.max(...samples.map((s) => s.blocks)) },
      bytesAfterGc: { first: first.bytes, last: last.bytes },
      allocationsPerMessage: +(allocs / (2 * N)).toFixed(1), bytesAllocatedPerMessage: Math.round(bytes / (2 * N)),
      memoryLimitBlocks: MEMORY_LIMIT, seconds: ms / 1000,
      processMemory: emu.eval("(function (m) { return { usage: m.usage, free: m.free, total: m.total }; })(process.memory())"),
    };
    console.log(`[reliability] soak: ${JSON.stringify(fig)}`);
    expect(emu.uncaught).toEqual([]);
    expect(emu.eval("errs")).toEqual([]);
    expect(emu.eval("bad")).toBe(0);
    expect(emu.eval("acked")).toBe(N + 100);
    expect(emu.eval("nin")).toBe(N + 100);
    expect(peerGot).toBeGreaterThanOrEqual(N + 100);
    // flat: no growth with the message count (a few blocks of noise)
    expect(Math.abs(last.blocks - first.blocks)).toBeLessThan(30);
    expect(Math.max(...samples.map((s) => s.blocks)) - first.blocks).toBeLessThan(60);
  }, 120000);
});

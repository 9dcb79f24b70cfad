// Battery mode (#16): the BUILT esp8266 firmware with "sleep" in the Espruino emulation against a real
// Mosquitto, through a fault proxy. Each wake is a new emulation booted with the previous one's Storage
// (deep sleep resets the chip: only flash survives), as the RTC would; the emulation halts at
// ESP8266.deepSleep and records its length. Real time: awake_max (5 s) is real here.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, MqttClient } from "mqtt";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { startFaultProxy, FaultProxy } from "../helpers/fault-proxy";
import { createEspruino, Espruino } from "../../emu/espruino";
// @ts-ignore: build scripts are plain ESM
import { bundle, ROOT } from "../../build/build.mjs";
import { firmwareDefines } from "../../build/config.mjs";

const ID = "zz" + process.pid, T = `mcu/${ID}/`;
const SLEEP = 300, AWAKE = 5;

describe.skipIf(!hasMosquitto)("battery mode: the built esp8266 firmware, waking and sleeping, against Mosquitto", () => {
  let broker: Mosquitto, px: FaultProxy, obs: MqttClient, dir: string, code: string;
  const flash = new Map<string, string>(); // the device's Storage, kept across deep sleeps
  const got: { topic: string; text: string; qos: number; retain: boolean; wake: number }[] = [];
  let wakes = 0;

  /** One wake: boot a new emulation with the flash, light at `light` %, run until it deep-sleeps. */
  async function wake(light: number, before?: (emu: Espruino) => void) {
    const emu = await createEspruino({ board: "esp8266", storage: flash, wifi: { ssid: "my-wifi", password: "pw-123", rssi: -61 } });
    emu.pins.setAnalog("A0", light / 100);
    wakes++;
    const t0 = emu.now();
    emu.load(code);
    before?.(emu);
    try {
      await emu.runUntil(() => emu.halted, 30000, "deep sleep");
    } finally { emu.dispose(); }
    expect(emu.uncaught).toEqual([]);
    expect(emu.warnings).toEqual([]);
    expect(emu.sleeps.length).toBe(1);
    const line = emu.console.find((l) => l.startsWith("sleep "))!;
    return { emu, ms: emu.sleeps[0].ms, awake: emu.sleeps[0].at - t0, line, wake: wakes };
  }
  const during = (w: number, topic?: string) => got.filter((m) => m.wake == w && (!topic || m.topic == topic));
  /** messages that arrived for this wake (the observer may see the last ones a moment after the sleep) */
  async function settle() { await new Promise((r) => setTimeout(r, 150)); }

  beforeAll(async () => {
    broker = await startMosquitto();
    px = await startFaultProxy({ port: broker.port });
    dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-sleep-"));
    const cfg = {
      id: ID, wifi: { ssid: "my-wifi" }, broker: { host: "127.0.0.1", port: px.port }, sleep: SLEEP, awake_max: AWAKE,
      sensors: [{ name: "light", type: "analog", pin: "A0", scale: 100, unit: "%", precision: 0 }],
      actuators: [{ name: "relay", type: "digital", pin: "D5", invert: true }],
    };
    writeFileSync(join(dir, "device.json"), JSON.stringify(cfg));
    writeFileSync(join(dir, "secrets.json"), JSON.stringify({ wifi: { password: "pw-123" } }));
    code = await bundle({ entry: "src/app/main.ts", out: join(dir, "esp8266.js"), alias: { board: join(ROOT, "boards/esp8266.ts") },
      define: firmwareDefines("esp8266", { file: join(dir, "device.json") }) });
    obs = await connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 200 });
    obs.on("message", (topic, p, pk) => got.push({ topic, text: p.toString(), qos: pk.qos, retain: !!pk.retain, wake: wakes }));
    await obs.subscribeAsync([`mcu/${ID}/#`, `homeassistant/+/${ID}/+/config`], { qos: 1 });
  });
  afterAll(async () => {
    await obs?.endAsync(true);
    await px?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a wake: outputs, one reading, announce, telemetry at QoS 1 acknowledged, then deep sleep", async () => {
    const w = await wake(42);
    await settle();
    expect(w.ms).toBe(SLEEP * 1000);
    expect(w.line).toMatch(/^sleep 300000 ms, awake \d+ ms$/);
    expect(w.emu.pins.output("D5")).toBe(1); // relay OFF (active low), driven at boot
    // the announce (first wake of this build): the state, then discovery without availability, the
    // sensor expiring after two missed wakes, the switch's commands at QoS 1
    expect(during(w.wake, T + "state/relay")[0]).toMatchObject({ text: "OFF", qos: 1 });
    const light = JSON.parse(during(w.wake, `homeassistant/sensor/${ID}/light/config`)[0].text);
    expect(light.avty_t).toBeUndefined();
    expect(light.exp_aft).toBe(3 * SLEEP + AWAKE);
    const relay = JSON.parse(during(w.wake, `homeassistant/switch/${ID}/relay/config`)[0].text);
    expect(relay).toMatchObject({ qos: 1, cmd_t: "~/cmd/relay" });
    expect(relay.avty_t).toBeUndefined();
    const tele = during(w.wake, T + "telemetry");
    expect(tele.length).toBe(1);
    expect(tele[0].qos).toBe(1);
    expect(JSON.parse(tele[0].text)).toMatchObject({ light: 42, rssi: -61, reconnects: 0 });
    // a persistent session without a will: CONNECT flags (after fixed header, protocol name, level)
    const up = px.conns[px.conns.length - 1].up;
    expect(up.charCodeAt(0)).toBe(0x10);
    expect(up.charCodeAt(9) & 0x06).toBe(0); // clean session 0, will flag 0
    expect(flash.get("mq.an")).toBeTruthy(); // the announce is not repeated at the next wakes
  });

  it("a command sent while it sleeps is applied at the next wake and its state published; kept for the wake after", async () => {
    await obs.publishAsync(T + "cmd/relay", "ON", { qos: 1 });
    const w = await wake(43);
    await settle();
    expect(w.ms).toBe(SLEEP * 1000);
    expect(w.emu.pins.output("D5")).toBe(0); // ON, active low
    expect(during(w.wake, T + "state/relay").map((m) => m.text)).toEqual(["ON"]);
    expect(during(w.wake).filter((m) => m.topic.startsWith("homeassistant/"))).toEqual([]); // announced once
    expect(JSON.parse(during(w.wake, T + "telemetry")[0].text)).toMatchObject({ light: 43 });
    // the next boot drives the relay from Storage before any network
    let atBoot = -1;
    const w2 = await wake(44, (emu) => { atBoot = emu.pins.output("D5"); });
    expect(atBoot).toBe(0);
    expect(w2.ms).toBe(SLEEP * 1000);
  });

  it("a dead broker: sleeps at awake_max, backs off, keeps the readings; once back they are published with their age, then the back-off resets", async () => {
    await broker.down();
    const fails: number[] = [];
    for (const light of [10, 20, 30]) {
      const w = await wake(light);
      expect(w.awake).toBeGreaterThanOrEqual(AWAKE * 1000);
      expect(w.line).toMatch(/failed \d+$/);
      fails.push(w.ms);
    }
    expect(fails).toEqual([SLEEP * 1000, 2 * SLEEP * 1000, 4 * SLEEP * 1000]);
    await broker.up();
    await new Promise<void>((r) => (obs.connected ? r() : obs.once("connect", () => r())));
    await obs.subscribeAsync([`mcu/${ID}/#`], { qos: 1 });
    const w = await wake(40);
    await settle();
    expect(w.ms).toBe(SLEEP * 1000);
    expect(w.line).not.toMatch(/failed/);
    const tele = during(w.wake, T + "telemetry").map((m) => JSON.parse(m.text));
    expect(tele.map((o) => o.light)).toEqual([10, 20, 30, 40]); // oldest first, the current one last
    // age: the device's clock across sleeps (awake times + sleeps), not wall time
    const slept = [SLEEP, 2 * SLEEP, 4 * SLEEP];
    expect(tele[0].age).toBeGreaterThanOrEqual(slept[0] + slept[1] + slept[2] + 2 * AWAKE);
    expect(tele[0].age).toBeLessThan(slept[0] + slept[1] + slept[2] + 3 * AWAKE + 30);
    expect(tele[1].age).toBeGreaterThanOrEqual(slept[1] + slept[2] + AWAKE);
    expect(tele[2].age).toBeGreaterThanOrEqual(slept[2]);
    expect(tele[2].age).toBeLessThan(slept[2] + AWAKE + 30);
    expect(tele[3].age).toBeUndefined();
    const w2 = await wake(41);
    expect(w2.ms).toBe(SLEEP * 1000); // reset by the success
  });

  it("the telemetry of a wake is never taken as sent before its PUBACK: cut before it reaches the broker, it is kept and sent at the next wake", async () => {
    // where this firmware's telemetry PUBLISH starts in a wake's upstream bytes (CONNECT, SUBSCRIBE first)
    const w0 = await wake(50);
    expect(w0.ms).toBe(SLEEP * 1000);
    const up = px.conns[px.conns.length - 1].up, at = up.indexOf(T + "telemetry") - 4;
    expect(at).toBeGreaterThan(0);
    expect(up.charCodeAt(at) & 0xf0).toBe(0x30); // a PUBLISH
    px.set({ cut: { dir: "up", after: at, times: 1000 } });
    const w = await wake(51);
    await settle();
    expect(w.line).toMatch(/failed 1$/);
    expect(during(w.wake, T + "telemetry")).toEqual([]);
    px.set({ cut: null });
    const w2 = await wake(52);
    await settle();
    expect(w2.line).not.toMatch(/failed/);
    expect(during(w2.wake, T + "telemetry").map((m) => JSON.parse(m.text).light)).toEqual([51, 52]);
  });

  it("a kept reading that does not parse (a flash fault) is skipped, not retried at every wake", async () => {
    flash.set("mq.r5", JSON.stringify("{not json"));
    flash.set("mq.s", JSON.stringify("1,1000,5,1"));
    const w = await wake(60);
    await settle();
    expect(w.line).not.toMatch(/failed/);
    expect(during(w.wake, T + "telemetry").map((m) => JSON.parse(m.text).light)).toEqual([60]);
    expect(JSON.parse(flash.get("mq.s")!)).toBe("0,0,6,0");
  });

  it("no will, no status: Home Assistant never sees the device go offline between wakes", async () => {
    await new Promise((r) => setTimeout(r, 200));
    expect(got.filter((m) => m.topic == T + "status")).toEqual([]);
    expect(wakes).toBeGreaterThanOrEqual(9);
  });
});

// On Linux the sleep is emulated: the firmware stops everything, and the board boots it again in place
// after the sleep. Many cycles in one emulation (fake time): each wakes on schedule and publishes, and
// nothing piles up (timers, sockets, listeners, memory).
describe.skipIf(!hasMosquitto)("battery mode: the emulated sleep of the espruino-linux build", () => {
  let broker: Mosquitto, dir: string, obs: MqttClient;
  const id = "zl" + process.pid, tele: { at: number; o: any }[] = [];
  beforeAll(async () => {
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-sleep-"));
    writeFileSync(join(dir, "device.json"), JSON.stringify({
      id, broker: { host: "127.0.0.1", port: broker.port }, sleep: 60, awake_max: 5,
      sensors: [{ name: "door", type: "digital", pin: "D4" }], actuators: [{ name: "led", type: "digital", pin: "D2" }],
    }));
    writeFileSync(join(dir, "secrets.json"), "{}");
    obs = await connectAsync({ host: "127.0.0.1", port: broker.port });
    await obs.subscribeAsync(`mcu/${id}/telemetry`, { qos: 1 });
  });
  afterAll(async () => {
    await obs?.endAsync(true);
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("wakes every 60 s, publishes, sleeps; nothing piles up over 20 cycles", async () => {
    const code = await bundle({ entry: "src/app/main.ts", out: join(dir, "linux.js"), alias: { board: join(ROOT, "boards/espruino-linux.ts") },
      define: firmwareDefines("espruino-linux", { file: join(dir, "device.json") }) });
    // settleMs: the clock jumps to the next timer (awake_max among them) only after 50 ms without a socket event
    const emu = await createEspruino({ board: "espruino-linux", fakeTime: { settleMs: 50 } });
    obs.on("message", (_t, p) => tele.push({ at: emu.now(), o: JSON.parse(p.toString()) }));
    try {
      emu.load(code);
      const sleeps = () => emu.console.filter((l) => l.startsWith("sleep "));
      let mem = 0;
      for (let n = 1; n <= 20; n++) {
        await emu.runUntil(() => sleeps().length >= n && tele.length >= n, 120000, "cycle " + n);
        if (n == 5) { emu.gc(); mem = emu.memory().programBlocks; }
      }
      emu.gc();
      expect(sleeps().every((l) => /^sleep 60000 ms, awake \d+ ms$/.test(l))).toBe(true);
      // on schedule: one telemetry per period (sleep + the time awake)
      for (let i = 1; i < tele.length; i++) expect(tele[i].at - tele[i - 1].at).toBeGreaterThanOrEqual(60000);
      for (let i = 1; i < tele.length; i++) expect(tele[i].at - tele[i - 1].at).toBeLessThan(60000 + 5000);
      expect(emu.openSockets()).toBeLessThanOrEqual(1);
      const grew = emu.memory().programBlocks - mem;
      console.log(`emulated sleep: ${grew} blocks more after 20 cycles than after 5`);
      expect(grew).toBeLessThan(40);
      expect(emu.uncaught).toEqual([]);
      expect(emu.warnings).toEqual([]);
    } finally { emu.dispose(); }
  });
});

// The ESP32 bundle sleeps through ESP32.deepSleep (a global there; the ESP8266's is require("ESP8266")).
describe.skipIf(!hasMosquitto)("battery mode: the esp32 build", () => {
  let broker: Mosquitto, dir: string;
  beforeAll(async () => { broker = await startMosquitto(); dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-sleep-")); });
  afterAll(async () => { await broker?.stop(); if (dir) rmSync(dir, { recursive: true, force: true }); });

  it("wakes, publishes, deep-sleeps for `sleep` (µs as an int within ESP32.deepSleep's range)", async () => {
    writeFileSync(join(dir, "device.json"), JSON.stringify({ id: "z32" + process.pid, wifi: { ssid: "w" }, broker: { host: "127.0.0.1", port: broker.port },
      sleep: 2147, sensors: [{ name: "t", type: "temperature" }] }));
    writeFileSync(join(dir, "secrets.json"), "{}");
    const code = await bundle({ entry: "src/app/main.ts", out: join(dir, "esp32.js"), alias: { board: join(ROOT, "boards/esp32.ts") },
      define: firmwareDefines("esp32", { file: join(dir, "device.json") }) });
    const obs = await connectAsync({ host: "127.0.0.1", port: broker.port });
    const tele: string[] = [];
    obs.on("message", (_t, p) => tele.push(p.toString()));
    await obs.subscribeAsync(`mcu/z32${process.pid}/telemetry`, { qos: 1 });
    const emu = await createEspruino({ board: "esp32", wifi: { ssid: "w" }, temperature: 31 });
    try {
      emu.load(code);
      await emu.runUntil(() => emu.halted, 30000, "deep sleep");
      expect(emu.sleeps.map((s) => s.ms)).toEqual([2147000]);
      expect(emu.warnings).toEqual([]); // 2,147,000,000 µs fits ESP32.deepSleep's int
      expect(emu.uncaught).toEqual([]);
      await new Promise((r) => setTimeout(r, 150));
      expect(JSON.parse(tele[0])).toMatchObject({ t: 31 });
    } finally { emu.dispose(); await obs.endAsync(true); }
  });
});

// The host board (tests, tools) emulates the sleep with its timers: the firmware from source, two wakes.
describe.skipIf(!hasMosquitto)("battery mode: the host board's emulated sleep (firmware from source)", () => {
  let broker: Mosquitto;
  beforeAll(async () => { broker = await startMosquitto(); });
  afterAll(async () => { await broker?.stop(); });

  it("wakes, publishes, sleeps, wakes again after the sleep and publishes again", async () => {
    const { board, hostCtl, hostPins } = await import("../../boards/host");
    const { validateConfig } = await import("../../build/config.mjs");
    const { start } = await import("../../src/app/firmware");
    const id = "zh" + process.pid;
    const c: any = validateConfig({ id, broker: { host: "127.0.0.1", port: broker.port }, sleep: 10, awake_max: 3,
      sensors: [{ name: "level", type: "analog", pin: "A0" }] }, "host", {}, "9.9.9");
    c.sleep = 400; // (ms: shorter than a config may say, to keep the test short)
    const obs = await connectAsync({ host: "127.0.0.1", port: broker.port });
    const tele: any[] = [], logs: string[] = [], log0 = hostCtl.log;
    obs.on("message", (_t, p) => tele.push(JSON.parse(p.toString())));
    await obs.subscribeAsync(`mcu/${id}/telemetry`, { qos: 1 });
    hostCtl.log = (m) => { logs.push(m); };
    hostCtl.sleeps.length = 0;
    hostPins.analog.A0 = 0.25;
    // the host board's sleep for the first two; the third ends the test (no wake follows)
    const b = { ...board, sleep: (ms: number, wake: () => void) => { if (hostCtl.sleeps.length < 2) board.sleep!(ms, wake); else hostCtl.sleeps.push(ms); } };
    try {
      start(c, b);
      for (let i = 0; i < 200 && hostCtl.sleeps.length < 3; i++) await new Promise((r) => setTimeout(r, 25));
      expect(hostCtl.sleeps).toEqual([400, 400, 400]);
      await new Promise((r) => setTimeout(r, 100));
      expect(tele.map((o) => o.level)).toEqual([0.25, 0.25, 0.25]);
      expect(logs.filter((l) => l.startsWith("sleep ")).length).toBe(3);
    } finally {
      hostCtl.log = log0;
      await obs.endAsync(true);
    }
  });
});

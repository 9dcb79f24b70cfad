// The firmware (src/app) on the host board against a real Mosquitto, watched by an independent client
// (the `mqtt` package). The firmware's clock is fake where timing matters (telemetry cadence, deadband,
// reconnect backoff); the sockets are real. Pins are the host board's in-memory pins.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectAsync, MqttClient } from "mqtt";
import { rmSync } from "node:fs";
import { hasMosquitto, makeTestCerts, startMosquitto, startMosquittoAllTransports, Mosquitto, TestCerts } from "../helpers/mosquitto";
import { fakeClock, FakeClock } from "../helpers/fake-clock";
import { board as host, hostCtl, hostPins } from "../../boards/host";
import type { Board } from "../../boards/board";
import { validateConfig } from "../../build/config.mjs";
import { start, Firmware } from "../../src/app/firmware";
import type { Config } from "../../src/app/config";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WIFI_SECRET = "wifi-Secret-7731", MQTT_SECRET = "mqtt-Secret-4410";

interface Msg { topic: string; text: string; retain: boolean }

/** An independent MQTT client that records everything it receives. */
class Observer {
  got: Msg[] = [];
  constructor(public c: MqttClient) {
    c.on("message", (topic, payload, p) => { this.got.push({ topic, text: payload.toString("utf8"), retain: !!p.retain }); });
  }
  static async open(port: number, filter: string | string[]) {
    const o = new Observer(await connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 100 }));
    await o.c.subscribeAsync(filter);
    return o;
  }
  /** wait for a message matching `topic` (exact or RegExp) that arrives after index `from` */
  async next(topic: string | RegExp, from = 0, ms = 5000): Promise<Msg> {
    const end = Date.now() + ms;
    for (;;) {
      for (let i = from; i < this.got.length; i++) if (typeof topic == "string" ? this.got[i].topic == topic : topic.test(this.got[i].topic)) return this.got[i];
      if (Date.now() > end) throw new Error(`no message on ${topic} within ${ms} ms; got: ${this.got.slice(from).map((m) => m.topic + "=" + m.text).join(" | ")}`);
      await sleep(10);
    }
  }
  count(topic: string, from = 0) { return this.got.slice(from).filter((m) => m.topic == topic).length; }
  end() { return this.c.endAsync(true); }
}

describe.skipIf(!hasMosquitto)("firmware on the host board with Mosquitto", () => {
  let broker: Mosquitto;
  let clock: FakeClock;
  let fw: Firmware | null = null;
  const observers: Observer[] = [], logs: string[] = [], everything: Msg[] = [];
  let spy: Observer;
  let seq = 0;

  /** a compiled config for the host board (validated like a build), talking to the test broker */
  function config(extra: any = {}): Config {
    const c = validateConfig({
      id: "t" + process.pid + "x" + ++seq,
      wifi: { ssid: "lab" },
      broker: { host: "127.0.0.1", port: broker.port, username: "dev", keepalive: 3600 },
      interval: 10, poll: 1,
      sensors: [{ name: "level", type: "analog", pin: "A0", deadband: 0.1 }, { name: "door", type: "digital", pin: "D4", debounce: 0 }],
      actuators: [{ name: "relay", type: "digital", pin: "D5", invert: true }, { name: "lamp", type: "pwm", pin: "D6" }],
      ...extra,
    }, "host", { wifi: { password: WIFI_SECRET }, broker: { password: MQTT_SECRET } }, "9.9.9");
    return c as Config;
  }

  /** the host board with the fake clock */
  function boardWith(c: FakeClock): Board { return { ...host, clock: c }; }

  async function boot(c: Config) {
    const id = c.id, o = await Observer.open(broker.port, `mcu/${id}/#`);
    observers.push(o);
    fw = start(c, boardWith(clock));
    expect(fw.id).toBe(id);
    await o.next(`mcu/${id}/status`);
    // the first telemetry follows the announce: a command sent before it is done could have its echo
    // taken for the announce's state, or the other way round
    await o.next(`mcu/${id}/telemetry`);
    return { id, o, t: `mcu/${id}/` };
  }

  /** advance the fake clock in steps, letting real sockets work in between */
  async function advance(ms: number, step = 1000) {
    for (let t = 0; t < ms; t += step) { clock.advance(Math.min(step, ms - t)); await sleep(5); }
    await sleep(50);
  }

  async function send(topic: string, payload: string) {
    const p = await connectAsync({ host: "127.0.0.1", port: broker.port });
    await p.publishAsync(topic, payload);
    await p.endAsync();
  }

  beforeAll(async () => {
    broker = await startMosquitto();
    hostCtl.log = (m) => { logs.push(m); };
    spy = await Observer.open(broker.port, "#");
    spy.got = everything;
  });
  afterEach(async () => {
    if (fw) fw.stop();
    fw = null;
    for (const o of observers.splice(0)) await o.end();
    hostPins.reset();
  });
  afterAll(async () => {
    await spy?.end();
    await broker?.stop();
  });
  const fresh = () => { clock = fakeClock(1000); };

  it("announces itself: status online, states and discovery, all retained", async () => {
    fresh();
    const { id, o, t } = await boot(config());
    expect(hostPins.level.D5).toBe(true); // relay OFF, active low: pin high, at once at boot
    expect((await o.next(t + "state/relay")).text).toBe("OFF");
    expect((await o.next(t + "state/lamp")).text).toBe("0");
    // a newcomer sees everything retained
    const late = await Observer.open(broker.port, [`mcu/${id}/#`, `homeassistant/+/${id}/+/config`]);
    observers.push(late);
    expect(await late.next(t + "status")).toMatchObject({ text: "online", retain: true });
    expect(await late.next(t + "state/relay")).toMatchObject({ text: "OFF", retain: true });
    const comps: Record<string, any> = {};
    for (const obj of ["level", "door", "relay", "lamp", "rssi", "uptime"]) {
      const m = await late.next(new RegExp(`^homeassistant/[a-z_]+/${id}/${obj}/config$`));
      expect(m.retain).toBe(true);
      comps[m.topic.split("/")[1] + "/" + obj] = JSON.parse(m.text);
    }
    expect(Object.keys(comps).sort()).toEqual(["binary_sensor/door", "light/lamp", "sensor/level", "sensor/rssi", "sensor/uptime", "switch/relay"]);
    for (const k in comps) expect(comps[k]).toMatchObject({ "~": `mcu/${id}`, avty_t: "~/status", uniq_id: `${id}_${k.split("/")[1]}`, dev: { ids: [id], mdl: "host", sw: "9.9.9" } });
    expect(comps["switch/relay"]).toMatchObject({ cmd_t: "~/cmd/relay", stat_t: "~/state/relay" });
    expect(comps["sensor/level"]).toMatchObject({ stat_t: "~/telemetry", val_tpl: "{{value_json.level}}" });
  });

  // #13 item 8: Home Assistant must know a new device's entities before its first telemetry, or the
  // sensors show "unknown" for a whole interval
  it("a new device announces first (status, states, every discovery entity), then sends its first telemetry", async () => {
    fresh();
    const c = config(), id = c.id, o = await Observer.open(broker.port, [`mcu/${id}/#`, `homeassistant/+/${id}/+/config`]);
    observers.push(o);
    fw = start(c, boardWith(clock));
    await o.next(`mcu/${id}/telemetry`);
    const order = o.got.map((m) => m.topic.startsWith("homeassistant/") ? "discovery" : m.topic.split("/").slice(2).join("/"));
    const first = order.indexOf("telemetry");
    expect(order.slice(0, first)).toEqual(["status", "state/relay", "state/lamp", "discovery", "discovery", "discovery", "discovery", "discovery", "discovery"]);
  });

  it("telemetry: every interval on a fake clock, at once beyond a deadband, and on an input edge", async () => {
    fresh();
    const { o, t } = await boot(config());
    const first = JSON.parse((await o.next(t + "telemetry")).text);
    expect(first).toEqual({ level: 0, door: false, uptime: expect.any(Number), mem: expect.any(Number), rssi: null, reconnects: 0 });
    let n = o.got.length;
    await advance(9000); // polls at 1 s: nothing changed, interval not due
    expect(o.count(t + "telemetry", n)).toBe(0);
    await advance(1000); // 10 s
    expect(JSON.parse((await o.next(t + "telemetry", n)).text).level).toBe(0);
    n = o.got.length;
    hostPins.analog.A0 = 0.05; // within the deadband
    await advance(2000);
    expect(o.count(t + "telemetry", n)).toBe(0);
    hostPins.analog.A0 = 0.5; // beyond it: published at the next poll
    await advance(1000);
    expect(JSON.parse((await o.next(t + "telemetry", n)).text).level).toBe(0.5);
    expect(o.count(t + "telemetry", n)).toBe(1);
    n = o.got.length;
    hostPins.input("D4", true); // a door edge: published at once, no clock needed
    expect(JSON.parse((await o.next(t + "telemetry", n)).text).door).toBe(true);
    n = o.got.length;
    await send(t + "cmd/telemetry", ""); // within 1 s of the last publication: ignored (no flooding from the network)
    await sleep(200);
    expect(o.count(t + "telemetry", n)).toBe(0);
    await advance(1000);
    await send(t + "cmd/telemetry", ""); // publish now
    await o.next(t + "telemetry", n);
    // the interval restarts from the last publication
    n = o.got.length;
    await advance(9000);
    expect(o.count(t + "telemetry", n)).toBe(0);
    await advance(1000);
    await o.next(t + "telemetry", n);
  });

  it("a command changes the pin and the state is echoed, retained", async () => {
    fresh();
    const { id, o, t } = await boot(config());
    await o.next(t + "state/lamp");
    const cases: [string, string, string, () => unknown, unknown][] = [
      ["relay", "ON", "ON", () => hostPins.level.D5, false], // active low
      ["relay", "off", "OFF", () => hostPins.level.D5, true],
      ["relay", "TOGGLE", "ON", () => hostPins.level.D5, false],
      ["relay", "0", "OFF", () => hostPins.level.D5, true],
      ["relay", "true", "ON", () => hostPins.level.D5, false],
      ["relay", '{"state":"OFF"}', "OFF", () => hostPins.level.D5, true],
      ["lamp", "40", "40", () => hostPins.pwm.D6.duty, 0.4],
      ["lamp", "OFF", "0", () => hostPins.pwm.D6.duty, 0],
      ["lamp", "ON", "40", () => hostPins.pwm.D6.duty, 0.4], // back to the last level
      ["lamp", '{"state": 100}', "100", () => hostPins.pwm.D6.duty, 1],
      ["lamp", " 12.5 ", "12.5", () => hostPins.pwm.D6.duty, 0.125],
    ];
    for (const [name, payload, state, pin, level] of cases) {
      const n = o.got.length;
      await send(t + "cmd/" + name, payload);
      expect((await o.next(t + "state/" + name, n)).text, name + " " + payload).toBe(state);
      expect(pin(), name + " " + payload).toBe(level);
    }
    const late = await Observer.open(broker.port, `mcu/${id}/state/+`);
    observers.push(late);
    expect(await late.next(t + "state/lamp")).toMatchObject({ text: "12.5", retain: true });
    expect(await late.next(t + "state/relay")).toMatchObject({ text: "OFF", retain: true });
  });

  it("invalid commands are reported on the error topic and change nothing", async () => {
    fresh();
    const { o, t } = await boot(config());
    await o.next(t + "state/lamp");
    const k0 = o.got.length;
    await send(t + "cmd/lamp", "30");
    expect((await o.next(t + "state/lamp", k0)).text).toBe("30");
    const before = { relay: hostPins.level.D5, lamp: hostPins.pwm.D6.duty };
    const n = o.got.length;
    const bad: [string, string, any][] = [
      ["relay", "bogus", { cmd: "relay", payload: "bogus", error: "bad payload" }],
      ["relay", "2", { cmd: "relay", payload: "2", error: "out of range 0..1" }],
      ["lamp", "150", { cmd: "lamp", payload: "150", error: "out of range 0..100" }],
      ["lamp", "-1", { cmd: "lamp", payload: "-1", error: "out of range 0..100" }],
      ["lamp", '{"state":', { cmd: "lamp", payload: '{"state":', error: "bad payload" }],
      ["lamp", '{"level":3}', { cmd: "lamp", payload: '{"level":3}', error: "bad payload" }],
      ["lamp", "", { cmd: "lamp", payload: "", error: "bad payload" }],
      ["fan", "ON", { cmd: "fan", payload: "ON", error: "unknown actuator" }],
    ];
    for (const [name, payload, error] of bad) {
      const k = o.got.length;
      await send(t + "cmd/" + name, payload);
      expect(JSON.parse((await o.next(t + "error", k)).text)).toEqual(error);
    }
    await sleep(100);
    expect(o.count(t + "state/relay", n) + o.count(t + "state/lamp", n)).toBe(0);
    expect({ relay: hostPins.level.D5, lamp: hostPins.pwm.D6.duty }).toEqual(before);
  });

  it("a failing sensor reads null and reports an error; the loop goes on", async () => {
    fresh();
    hostCtl.temperature = null;
    const { o, t } = await boot(config({ sensors: [{ name: "chip", type: "temperature" }, { name: "level", type: "analog", pin: "A0" }] }));
    expect(JSON.parse((await o.next(t + "error")).text)).toEqual({ sensor: "chip", error: "no reading" });
    expect(JSON.parse((await o.next(t + "telemetry")).text)).toMatchObject({ chip: null, level: 0 });
    hostCtl.temperature = 41.237;
    hostPins.analog.A0 = 0.25;
    const n = o.got.length;
    await advance(10000);
    expect(JSON.parse((await o.next(t + "telemetry", n)).text)).toMatchObject({ chip: 41.24, level: 0.25 });
    expect(o.count(t + "error", n)).toBe(0); // the same error is not repeated every poll either
    hostCtl.temperature = null;
  });

  it("after stop(), the network coming back up does not reconnect", async () => {
    fresh();
    const { t, o } = await boot(config());
    let n = o.got.length;
    fw!.stop();
    fw = null;
    expect((await o.next(t + "status", n)).text).toBe("offline");
    n = o.got.length;
    hostCtl.setNet(false);
    hostCtl.setNet(true);
    await advance(5000);
    await sleep(300);
    expect(o.count(t + "status", n)).toBe(0); // no "online" again
  });

  it("the will turns the status offline when the link is cut", async () => {
    fresh();
    const { id, o, t } = await boot(config());
    const n = o.got.length;
    fw!.stop(); // the socket closes without DISCONNECT, as when power or WiFi goes
    fw = null;
    expect((await o.next(t + "status", n)).text).toBe("offline");
    const late = await Observer.open(broker.port, `mcu/${id}/status`);
    observers.push(late);
    expect(await late.next(t + "status")).toMatchObject({ text: "offline", retain: true });
  });

  it("recovers when the broker restarts; telemetry taken offline is delivered after", async () => {
    fresh();
    const { o, t } = await boot(config());
    await o.next(t + "telemetry");
    await broker.down();
    await sleep(200);
    hostPins.analog.A0 = 0.75; // beyond the deadband while offline: queued
    await advance(1000);
    expect(fw!.client.queued()).toBeGreaterThan(0);
    await broker.up();
    await new Promise<void>((r) => { if (o.c.connected) r(); else o.c.once("connect", () => r()); });
    await sleep(300); // the observer's resubscription
    const n = o.got.length;
    await advance(70000, 500); // past the longest first backoff
    expect((await o.next(t + "status", n)).text).toBe("online");
    const tele = JSON.parse((await o.next(t + "telemetry", n)).text);
    expect(tele.level).toBe(0.75);
    await advance(10000);
    const later = o.got.slice(n).filter((m) => m.topic == t + "telemetry").map((m) => JSON.parse(m.text));
    expect(later[later.length - 1].reconnects).toBe(1);
    spy = await Observer.open(broker.port, "#"); // the broker lost the spy's subscription with its state
    spy.got = everything;
  });

  it("restores the last state from the retained state topic, unless a command came first", async () => {
    fresh();
    const c = config();
    const first = await boot(c);
    await first.o.next(first.t + "state/lamp");
    const k = first.o.got.length;
    await send(first.t + "cmd/relay", "ON");
    await send(first.t + "cmd/lamp", "70");
    expect((await first.o.next(first.t + "state/lamp", k)).text).toBe("70");
    fw!.stop();
    fw = null;
    hostPins.reset();
    // a command waiting (retained) for the device beats the restored state
    const p = await connectAsync({ host: "127.0.0.1", port: broker.port });
    await p.publishAsync(first.t + "cmd/lamp", "10", { retain: true });
    // reboot: safe state at once, then the retained states once connected
    fresh();
    const o = await Observer.open(broker.port, first.t + "state/+");
    observers.push(o);
    await o.next(first.t + "state/lamp"); // the retained ones
    await sleep(100);
    const n = o.got.length;
    fw = start(c, boardWith(clock));
    expect(hostPins.level.D5).toBe(true);
    expect(hostPins.pwm.D6.duty).toBe(0);
    // restore complete: the states are announced
    expect((await o.next(first.t + "state/relay", n)).text).toBe("ON");
    expect(hostPins.level.D5).toBe(false); // relay ON again (active low)
    expect(hostPins.pwm.D6.duty).toBe(0.1);
    await p.publishAsync(first.t + "cmd/lamp", "", { retain: true });
    await p.endAsync();
  });

  it("restores from Storage when configured, before any connection; writes once, 5 s after the last change", async () => {
    fresh();
    const c = config({ restore: "storage", broker: { host: "127.0.0.1", port: broker.port, username: "dev", keepalive: 3600 } });
    const writes: string[] = [], bd = boardWith(clock);
    bd.store = { get: host.store.get, set: (k, v) => { writes.push(k + "=" + v); host.store.set(k, v); } };
    const { id } = c, o = await Observer.open(broker.port, `mcu/${id}/#`), t = `mcu/${id}/`;
    observers.push(o);
    fw = start(c, bd);
    await o.next(t + "status");
    await o.next(t + "telemetry"); // the announce is done (as in boot())
    for (const v of ["10", "15", "20", "25"]) { // a Home Assistant slider: one command per step
      const k = o.got.length;
      await send(t + "cmd/lamp", v);
      expect((await o.next(t + "state/lamp", k)).text).toBe(v);
      await advance(1000);
    }
    expect(writes).toEqual([]); // flash is not written per command
    await advance(4000);
    expect(writes.sort()).toEqual(["a.lamp=25", "a.relay=0"]);
    await advance(60000);
    expect(writes.length).toBe(2);
    fw!.stop();
    fw = null;
    hostPins.reset();
    fresh();
    fw = start({ ...c, broker: { ...c.broker, port: 1 } }, boardWith(clock)); // no broker there
    expect(hostPins.pwm.D6.duty).toBe(0.25);
  });

  it("no secret ever reached a log line or a published message", async () => {
    expect(everything.length).toBeGreaterThan(50);
    for (const m of everything) {
      expect(m.topic + m.text).not.toContain(WIFI_SECRET);
      expect(m.topic + m.text).not.toContain(MQTT_SECRET);
    }
    for (const l of logs) { expect(l).not.toContain(WIFI_SECRET); expect(l).not.toContain(MQTT_SECRET); }
  });
});

describe.skipIf(!hasMosquitto)("firmware transports: TLS, WebSocket, both (config -> board transport)", () => {
  let certs: TestCerts, broker: Mosquitto;
  let fw: Firmware | null = null;
  beforeAll(async () => {
    certs = makeTestCerts();
    broker = await startMosquittoAllTransports(certs);
  });
  afterEach(() => { if (fw) fw.stop(); fw = null; });
  afterAll(async () => {
    await broker?.stop();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  const cases: [string, () => any][] = [
    ["TLS with the CA from secrets.json", () => ({ port: broker.tlsPort, tls: true })],
    ["WebSocket on a path", () => ({ port: broker.wsPort, websocket: "/mqtt" })],
    ["WebSocket over TLS", () => ({ port: broker.wssPort!, websocket: "/mqtt", tls: true })],
  ];
  for (const [what, b] of cases) it(what, async () => {
    const id = "tr" + process.pid + what.length;
    const c = validateConfig({ id, broker: { host: "127.0.0.1", ...b() }, homeassistant: false }, "host",
      b().tls ? { broker: { ca: certs.ca } } : {}) as Config;
    const o = await Observer.open(broker.port, `mcu/${id}/status`);
    try {
      fw = start(c, host);
      expect((await o.next(`mcu/${id}/status`)).text).toBe("online");
    } finally { await o.end(); }
  });
});

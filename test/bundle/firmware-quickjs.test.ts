// The BUILT espruino-linux firmware (src/app + boards/espruino-linux.ts, ES5, minified, the device config
// compiled in) in the Espruino emulation (QuickJS with Espruino's traps; emu/espruino.ts)
// against a real Mosquitto, watched by an independent client. The Linux board: no WiFi module (the
// network is up), its id from /sys/class/net through require("fs"), TCP from require("net").
// (test/integration/firmware-espruino.test.ts runs the esp8266 build the same way, WiFi included.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { freePort, hasMosquitto, startMosquitto, startMosquittoAllTransports, Mosquitto } from "../helpers/mosquitto";
import { makeTestCerts, TestCerts } from "../helpers/certs";
import { createEspruino, Espruino } from "../../emu/espruino";
import { firmwareBundle, ROOT } from "../helpers/bundles";

const ready = existsSync(join(ROOT, "src/app/main.ts")) && existsSync(join(ROOT, "boards/espruino-linux.ts"));
// eth0's MAC in the emulated /sys/class/net: the board takes it as the device id
const MAC = "b8:27:eb:12:34:56", ID = MAC.split(":").join("");
const MEMORY_BLOCKS = 12000;

describe.skipIf(!hasMosquitto || !ready)("built espruino-linux firmware in the Espruino emulation with Mosquitto", () => {
  let broker: Mosquitto, emu: Espruino, obs: MqttClient, dir: string, code: string;
  const got: { topic: string; text: string; retain: boolean }[] = [];
  const T = `mcu/${ID}/`;

  /** wait (pumping the emulation) for a message on `topic` after index `from` whose text passes `ok` */
  async function next(topic: string, from = 0, ok: (t: string) => boolean = () => true) {
    let m: (typeof got)[number] | undefined;
    const find = () => (m = got.slice(from).find((x) => x.topic == topic && ok(x.text)));
    await emu.runUntil(() => !!find(), 20000, `${topic} (got: ${got.slice(from).map((x) => x.topic + "=" + x.text).join(" | ").slice(0, 400)})`);
    return m!;
  }

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-fwl-"));
    const cfg = JSON.parse(readFileSync(join(ROOT, "examples/device.json"), "utf8"));
    delete cfg.id; // the board's id
    cfg.broker = { host: "127.0.0.1", port: broker.port, username: "dev" };
    cfg.interval = 30;
    writeFileSync(join(dir, "device.json"), JSON.stringify(cfg));
    writeFileSync(join(dir, "secrets.json"), JSON.stringify({ wifi: { password: "pw-unused-on-linux" }, broker: { password: "mq-7788" } }));
    code = await firmwareBundle("espruino-linux", join(dir, "device.json"), join(dir, "secrets.json"));
    obs = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4, reconnectPeriod: 100 });
    obs.on("message", (topic, p, pk) => got.push({ topic, text: p.toString(), retain: !!pk.retain }));
    await obs.subscribeAsync([`mcu/#`]);
    emu = await createEspruino({ board: "espruino-linux", fakeTime: true, memoryLimit: MEMORY_BLOCKS, mac: MAC });
  });
  afterAll(async () => {
    emu?.dispose();
    await obs?.endAsync(true);
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("boots with its id from /sys/class/net, connects, announces itself and publishes telemetry", async () => {
    emu.load(code);
    expect((await next(T + "status")).text).toBe("online");
    expect((await next(T + "state/relay")).text).toBe("OFF");
    const tele = JSON.parse((await next(T + "telemetry")).text);
    expect(tele).toMatchObject({ door: false, uptime: expect.any(Number), rssi: null });
    expect(tele.mem).toBeGreaterThan(0);
    const m = emu.memory();
    console.log(`espruino-linux firmware in QuickJS: ${m.programBlocks} blocks live after boot (cap ${MEMORY_BLOCKS}), ` +
      `${Math.round(m.programBytes / 1024)} KiB; bundle ${code.length} B`);
    expect(emu.uncaught).toEqual([]);
    expect(emu.warnings).toEqual([]);
  });

  it("a command on cmd/relay drives the emulated pin, and the state is echoed", async () => {
    const n = got.length;
    expect(emu.pins.output("D5")).toBe(1); // OFF, active low (invert)
    await obs.publishAsync(T + "cmd/relay", "ON");
    expect((await next(T + "state/relay", n)).text).toBe("ON");
    expect(emu.pins.output("D5")).toBe(0);
    await obs.publishAsync(T + "cmd/relay", "OFF");
    expect((await next(T + "state/relay", n, (x) => x == "OFF")).text).toBe("OFF");
    expect(emu.pins.output("D5")).toBe(1);
    expect(emu.uncaught).toEqual([]);
  });

  it("an input edge on the door pin is published", async () => {
    const n = got.length;
    emu.pins.set("D4", 1);
    await next(T + "telemetry", n, (x) => JSON.parse(x).door === true);
  });

  it("comes back after a broker restart: online again, commands obeyed", async () => {
    const n = got.length;
    await broker.restart();
    await next(T + "status", n, (x) => x == "online");
    const k = got.length;
    await obs.publishAsync(T + "cmd/relay", "ON");
    expect((await next(T + "state/relay", k, (x) => x == "ON")).text).toBe("ON");
    expect(emu.pins.output("D5")).toBe(0);
    expect(emu.uncaught).toEqual([]);
    expect(emu.warnings).toEqual([]);
  });

  it("no secret was published or printed", () => {
    for (const m of got) expect(m.text).not.toContain("mq-7788");
    for (const l of emu.console) expect(l).not.toContain("mq-7788");
  });
});

// The transports the config picks, each in its own build and emulation: TLS (the build compiles the CA in
// as DER: Espruino's mbedtls refuses PEM), WebSocket (our framing, with the charAt trap of Espruino's Linux
// builds in place) and WebSocket over TLS, against Mosquitto's listeners; the status reaches a plain client.
describe.skipIf(!hasMosquitto || !ready)("built espruino-linux firmware over TLS and WebSocket in the Espruino emulation", () => {
  let broker: Mosquitto, certs: TestCerts, dir: string, obs: MqttClient;
  const got: { topic: string; text: string }[] = [];
  beforeAll(async () => {
    certs = makeTestCerts();
    broker = await startMosquittoAllTransports(certs);
    dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-fwt-"));
    writeFileSync(join(dir, "ca.pem"), certs.ca);
    writeFileSync(join(dir, "secrets.json"), JSON.stringify({ broker: { ca: "ca.pem" } }));
    writeFileSync(join(dir, "none.json"), "{}");
    obs = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4 });
    obs.on("message", (topic, p) => got.push({ topic, text: p.toString() }));
    await obs.subscribeAsync("mcu/+/status");
  });
  afterAll(async () => {
    await obs?.endAsync(true);
    await broker?.stop();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cases: [string, () => any][] = [
    ["TLS with the CA from secrets.json", () => ({ port: broker.tlsPort, tls: true })],
    ["WebSocket on a path", () => ({ port: broker.wsPort, websocket: "/mqtt" })],
    ["WebSocket over TLS", () => ({ port: broker.wssPort!, websocket: "/mqtt", tls: true })],
  ];
  for (const [what, b] of cases) it(what, async () => {
    const id = "fwt" + process.pid + "x" + what.length, file = join(dir, id + ".json");
    writeFileSync(file, JSON.stringify({ id, broker: { host: "127.0.0.1", keepalive: 60, ...b() }, homeassistant: false }));
    const code = await firmwareBundle("espruino-linux", file, join(dir, b().tls ? "secrets.json" : "none.json"));
    const emu = await createEspruino({ board: "espruino-linux", fakeTime: true, memoryLimit: MEMORY_BLOCKS, mac: MAC });
    try {
      emu.load(code);
      await emu.runUntil(() => got.some((m) => m.topic == `mcu/${id}/status` && m.text == "online"), 10000, "online");
      expect(emu.uncaught).toEqual([]);
      expect(emu.warnings).toEqual([]);
    } finally { emu.dispose(); }
  });

  it("broker.hosts: the first host refuses (connect() throws, as on Espruino), the device comes online on the next", async () => {
    const id = "fwh" + process.pid, file = join(dir, id + ".json"), dead = await freePort();
    writeFileSync(file, JSON.stringify({ id, broker: { hosts: [`127.0.0.1:${dead}`, `127.0.0.1:${broker.port}`], keepalive: 60 }, homeassistant: false }));
    const code = await firmwareBundle("espruino-linux", file, join(dir, "none.json"));
    const emu = await createEspruino({ board: "espruino-linux", fakeTime: true, memoryLimit: MEMORY_BLOCKS, mac: MAC });
    try {
      emu.load(code);
      await emu.runUntil(() => got.some((m) => m.topic == `mcu/${id}/status` && m.text == "online"), 10000, "online");
      expect(emu.console.filter((l) => /ETRANSPORT/.test(l)).length, "the refused first host, reported").toBe(1);
      expect(emu.uncaught).toEqual([]);
    } finally { emu.dispose(); }
  });
});

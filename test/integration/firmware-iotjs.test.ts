// The BUILT iotjs firmware (boards/iotjs.ts, ES5, minified, config compiled in) in a REAL IoT.js against a
// real Mosquitto. IoT.js's Linux GPIO speaks sysfs at the fixed path /sys/class/gpio, so the test gives it
// one: IoT.js runs in its own mount namespace (`unshare -m`, which needs root or CAP_SYS_ADMIN) where a
// tmpfs covers /sys/class and a temp dir of plain files is bind-mounted at /sys/class/gpio: gpioN/{direction,
// value,edge,active_low}, the pins already exported. The test sets the input's level by writing its value
// file and reads the output's level from its value file.
//
// Runs only where MQTT_MCU_IOTJS names an iotjs binary (CI has none): MQTT_MCU_IOTJS=/path/to/iotjs npx
// vitest run test/integration/firmware-iotjs.test.ts. Skipped with a message otherwise, or when the mount
// namespace cannot be made. Written against IoT.js 1.0.0 (process.version "1.0.0", JerryScript es5.1).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { firmwareBundle } from "../helpers/bundles";

const IOTJS = process.env.MQTT_MCU_IOTJS || "";
// the namespace the firmware runs in: a tmpfs over /sys/class, our dir at /sys/class/gpio ($1), then IoT.js
const NS = `mount -t tmpfs mqtt-mcu /sys/class && mkdir /sys/class/gpio && mount --bind "$1" /sys/class/gpio && shift && exec "$@"`;

function why(): string {
  if (!IOTJS) return "MQTT_MCU_IOTJS is not set (the path of an iotjs binary)";
  if (!existsSync(IOTJS)) return `MQTT_MCU_IOTJS=${IOTJS} does not exist`;
  if (!hasMosquitto) return "mosquitto is not installed";
  const r = spawnSync("unshare", ["-m", "sh", "-c", "mount -t tmpfs mqtt-mcu /sys/class"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return `cannot give IoT.js a fake /sys/class/gpio (unshare -m + mount need root or CAP_SYS_ADMIN): ${(r.error?.message || r.stderr || "").trim()}`;
  return "";
}
const skip = why();
if (skip) {
  const msg = `the real IoT.js firmware test is SKIPPED: ${skip}`;
  if (IOTJS) console.warn("\n" + "!".repeat(100) + "\n!!! " + msg + "\n" + "!".repeat(100) + "\n");
  else console.log(msg);
}

const IN = 17, OUT = 27, ID = "iotjs" + process.pid;

describe.skipIf(!!skip)("built iotjs firmware in a real IoT.js with Mosquitto and a fake sysfs GPIO", () => {
  let broker: Mosquitto, obs: MqttClient, dir: string, gpio: string, iot: ChildProcess, out = "", exited: string | null = null;
  const got: { topic: string; text: string; retain: boolean }[] = [];
  const T = `mcu/${ID}/`;
  const file = (pin: number, f: string) => join(gpio, `gpio${pin}`, f);
  // IoT.js writes at offset 0 without truncating, as sysfs takes it: the first word is the value
  const read = (pin: number, f: string) => readFileSync(file(pin, f), "utf8").trim().split(/\s/)[0];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** wait (real time) for a message on `topic` after index `from` whose text passes `ok` */
  async function next(topic: string, from = 0, ok: (t: string) => boolean = () => true, ms = 10000) {
    const end = Date.now() + ms;
    for (;;) {
      const m = got.slice(from).find((x) => x.topic == topic && ok(x.text));
      if (m) return m;
      if (Date.now() > end || exited) throw new Error(`no ${topic}; got: ${got.slice(from).map((x) => x.topic + "=" + x.text).join(" | ").slice(0, 600)}; ` +
        `iotjs ${exited ? "exited (" + exited + ")" : "running"}, output: ${out.slice(-600)}`);
      await sleep(20);
    }
  }

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-iotjs-"));
    gpio = join(dir, "gpio");
    mkdirSync(gpio);
    writeFileSync(join(gpio, "export"), "");
    writeFileSync(join(gpio, "unexport"), "");
    for (const p of [IN, OUT]) {
      mkdirSync(join(gpio, `gpio${p}`));
      writeFileSync(file(p, "direction"), "in\n");
      writeFileSync(file(p, "edge"), "none\n");
      writeFileSync(file(p, "active_low"), "0\n");
      writeFileSync(file(p, "value"), "0\n");
    }
    writeFileSync(file(IN, "value"), "1\n"); // the door input starts high
    writeFileSync(join(dir, "device.json"), JSON.stringify({
      id: ID, name: "IoT.js test", broker: { host: "127.0.0.1", port: broker.port }, interval: 60,
      homeassistant: true, restore: "none",
      sensors: [{ name: "door", type: "digital", pin: String(IN), debounce: 50 }],
      actuators: [{ name: "relay", type: "digital", pin: String(OUT) }],
    }));
    writeFileSync(join(dir, "iotjs.js"), await firmwareBundle("iotjs", join(dir, "device.json")));
    obs = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4, reconnectPeriod: 100 });
    obs.on("message", (topic, p, pk) => got.push({ topic, text: p.toString(), retain: !!pk.retain }));
    await obs.subscribeAsync([`mcu/${ID}/#`, `homeassistant/+/${ID}/+/config`]);
    iot = spawn("unshare", ["-m", "sh", "-c", NS, "sh", gpio, IOTJS, "iotjs.js"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    iot.stdout!.on("data", (d) => { out += d; });
    iot.stderr!.on("data", (d) => { out += d; });
    iot.on("exit", (code, sig) => { exited = `${code ?? sig}`; });
    process.on("exit", () => { if (!exited) try { process.kill(iot.pid!, "SIGKILL"); } catch {} }); // never left running
  });
  afterAll(async () => {
    if (iot && !exited) {
      const gone = new Promise((r) => iot.once("exit", r));
      process.kill(iot.pid!, "SIGTERM");
      await gone;
    }
    await obs?.endAsync(true);
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("connects, drives its output to OFF, announces itself to Home Assistant", async () => {
    expect((await next(T + "status")).text).toBe("online");
    expect((await next(T + "state/relay")).text).toBe("OFF");
    expect(read(OUT, "direction")).toBe("out");
    expect(read(OUT, "value")).toBe("0");
    const door = JSON.parse((await next(`homeassistant/binary_sensor/${ID}/door/config`)).text);
    expect(door).toMatchObject({ "~": T.slice(0, -1), uniq_id: `${ID}_door`, stat_t: "~/telemetry", avty_t: "~/status", dev: { mdl: "iotjs" } });
    const relay = JSON.parse((await next(`homeassistant/switch/${ID}/relay/config`)).text);
    expect(relay).toMatchObject({ uniq_id: `${ID}_relay`, cmd_t: "~/cmd/relay", stat_t: "~/state/relay" });
  });

  it("telemetry reads the input's level from sysfs; mem is null (IoT.js shows no memory figure)", async () => {
    const tele = JSON.parse((await next(T + "telemetry")).text);
    expect(tele).toEqual({ door: true, uptime: expect.any(Number), mem: null, rssi: null, reconnects: 0 });
    // the input was opened without an edge (IoT.js's Linux gpio refuses inputs with one)
    expect(read(IN, "direction")).toBe("in");
    expect(read(IN, "edge")).toBe("none");
    expect(got.filter((m) => m.topic == T + "error")).toEqual([]);
  });

  it("a command drives the output's sysfs value, and the state is echoed", async () => {
    const n = got.length;
    await obs.publishAsync(T + "cmd/relay", "ON");
    await next(T + "state/relay", n, (x) => x == "ON");
    expect(read(OUT, "value")).toBe("1");
    await obs.publishAsync(T + "cmd/relay", "toggle");
    await next(T + "state/relay", n, (x) => x == "OFF");
    expect(read(OUT, "value")).toBe("0");
  });

  it("a level change of the input is published at once (polled, debounced), both ways", async () => {
    let n = got.length;
    writeFileSync(file(IN, "value"), "0\n");
    await next(T + "telemetry", n, (x) => JSON.parse(x).door === false, 3000);
    n = got.length;
    writeFileSync(file(IN, "value"), "1\n");
    await next(T + "telemetry", n, (x) => JSON.parse(x).door === true, 3000);
    // a blip shorter than the debounce (50 ms) is not reported
    n = got.length;
    writeFileSync(file(IN, "value"), "0\n");
    writeFileSync(file(IN, "value"), "1\n");
    await sleep(300);
    expect(got.slice(n).filter((m) => m.topic == T + "telemetry")).toEqual([]);
  });

  it("cmd/telemetry publishes now; IoT.js is still running, nothing went to the error topic", async () => {
    await sleep(1000); // a cmd/telemetry within 1 s of the last publication is ignored
    const n = got.length;
    await obs.publishAsync(T + "cmd/telemetry", "");
    expect(JSON.parse((await next(T + "telemetry", n)).text)).toMatchObject({ door: true, mem: null });
    expect(exited).toBeNull();
    expect(got.filter((m) => m.topic == T + "error")).toEqual([]);
  });
});

// broker.hosts (issue #17) on the REAL Espruino interpreter: the BUILT esp8266 firmware on the 1,600-block
// build (an ESP8266's store, 12-byte blocks), run from Storage as ".bootcde", with the Wifi stand-in,
// against two real Mosquitto brokers and a port where nothing listens. hosts = [dead, b1, b2]: the
// first connect is refused (Espruino's connect() throws), the device comes online on b1; b1 is stopped,
// the device comes online on b2 and obeys a command there. The blocks in use are printed from the
// firmware's own telemetry (`mem`), beside the same firmware built with one host, for the README.
// Skipped unless MQTT_MCU_ESPRUINO_1600 names the interpreter (source /work/scratch/env.sh).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { EspruinoBoard, interpreters } from "../../emu/real";
import { freePort, hasMosquitto, startMosquitto, type Mosquitto } from "../helpers/mosquitto";
import { benchConfig, buildFirmware, WIFI_STANDIN } from "../../bench/firmware";
import { pretokenise } from "../../build/pretokenise.mjs";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
interface Got { topic: string; text: string }

describe.skipIf(!interpreters.espruino1600 || !hasMosquitto)("broker.hosts: the esp8266 firmware on the 1,600-block Espruino fails over", () => {
  let b1: Mosquitto, b2: Mosquitto, w1: MqttClient, w2: MqttClient, dead = 0;
  const got1: Got[] = [], got2: Got[] = [];
  const boards: EspruinoBoard[] = [];
  beforeAll(async () => {
    b1 = await startMosquitto();
    b2 = await startMosquitto();
    dead = await freePort();
    w1 = await mqtt.connectAsync(`mqtt://127.0.0.1:${b1.port}`, { protocolVersion: 4, reconnectPeriod: 0 });
    w2 = await mqtt.connectAsync(`mqtt://127.0.0.1:${b2.port}`, { protocolVersion: 4, reconnectPeriod: 100 });
    w1.on("message", (topic, p) => got1.push({ topic, text: p.toString() }));
    w2.on("message", (topic, p) => got2.push({ topic, text: p.toString() }));
    await w1.subscribeAsync("mcu/#", { qos: 1 });
    await w2.subscribeAsync("mcu/#", { qos: 1 });
  });
  afterAll(async () => {
    for (const b of boards) await b.stop();
    await w1?.endAsync(true);
    await w2?.endAsync(true);
    await b1?.stop();
    await b2?.stop();
  });

  async function until(b: EspruinoBoard, what: string, pred: () => boolean, ms = 20000) {
    const end = Date.now() + ms;
    while (!pred()) {
      const t = b.problems().filter((l) => !/^ERROR: Connect failed/.test(l));
      if (t.length) throw new Error(`the interpreter reported trouble while waiting for ${what}:\n${t.join("\n")}\n${b.lines.slice(-20).join("\n")}`);
      if (b.exited != null) throw new Error(`espruino exited (${b.exited}) waiting for ${what}:\n${b.lines.slice(-15).join("\n")}`);
      if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms; last lines:\n${b.lines.slice(-15).join("\n")}`);
      await sleep(25);
    }
  }
  const used = (got: Got[], T: string, from = 0) =>
    got.slice(from).filter((m) => m.topic == T + "telemetry").map((m) => 1600 - Math.round(JSON.parse(m.text).mem / 12));
  const boot = async (cfg: any) => {
    const code = await buildFirmware("esp8266", cfg, { wifi: { password: "pw-bench" } });
    const b = EspruinoBoard.start(interpreters.espruino1600!, { ".bootcde": pretokenise(code), Wifi: WIFI_STANDIN }, { control: false });
    boards.push(b);
    return { b, size: code.length };
  };

  it("hosts [refused, b1, b2]: online on b1; b1 stopped: online on b2, a command obeyed there", async () => {
    const id = "hosts" + process.pid, T = `mcu/${id}/`;
    const { b, size } = await boot(benchConfig(id, 0, {
      broker: { hosts: [`127.0.0.1:${dead}`, `127.0.0.1:${b1.port}`, `127.0.0.1:${b2.port}`], keepalive: 30 }, wifi: { ssid: "bench" } }));
    await until(b, "online and 5 telemetry messages on b1", () => got1.some((m) => m.topic == T + "status" && m.text == "online") && used(got1, T).length >= 5);
    expect(b.lines.filter((l) => /^ERROR: Connect failed/.test(l)).length, "the refused first host").toBeGreaterThanOrEqual(1);
    expect(got2.filter((m) => m.topic.startsWith(T))).toEqual([]);
    const onB1 = used(got1, T);

    await b1.down();
    await until(b, "online on b2", () => got2.some((m) => m.topic == T + "status" && m.text == "online"));
    await w2.publishAsync(T + "cmd/relay", "ON", { qos: 1 });
    await until(b, "state/relay ON on b2", () => got2.some((m) => m.topic == T + "state/relay" && m.text == "ON"));
    const n = got2.length;
    await until(b, "5 telemetry messages on b2", () => used(got2, T, n).length >= 5);
    const onB2 = used(got2, T, n);
    const last = JSON.parse(got2.filter((m) => m.topic == T + "telemetry").pop()!.text);
    expect(last.reconnects).toBeGreaterThanOrEqual(1);
    console.log(`[broker.hosts, 3 hosts] esp8266 bundle ${size} B; blocks in use on b1: ${onB1.join(", ")}; on b2 after the failover: ${onB2.join(", ")}`);
    await b1.up();
  }, 60000);

  it("the same firmware with one host, for comparison of the blocks in use", async () => {
    const id = "host1" + process.pid, T = `mcu/${id}/`;
    const { b, size } = await boot(benchConfig(id, b2.port, { wifi: { ssid: "bench" } }));
    await until(b, "online and 5 telemetry messages on b2", () => used(got2, T).length >= 6);
    await w2.publishAsync(T + "cmd/relay", "ON", { qos: 1 });
    await until(b, "state/relay ON", () => got2.some((m) => m.topic == T + "state/relay" && m.text == "ON"));
    const n = got2.length;
    await until(b, "5 more telemetry messages", () => used(got2, T, n).length >= 5);
    console.log(`[broker.host, 1 host] esp8266 bundle ${size} B; blocks in use: ${used(got2, T).join(", ")}`);
  }, 60000);
});

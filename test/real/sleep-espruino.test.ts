// Battery mode (#16) on the REAL Espruino interpreter (2v29 for Linux; emu/real.ts), the built
// espruino-linux firmware with "sleep" run from Storage against a real Mosquitto: a wake (announce,
// telemetry at QoS 1, sleep logged with its awake time), then the Linux board's emulated sleep wakes it
// again in the same process on schedule; a command sent while it slept is applied at that wake and its
// state published; no status/will at any time. On the 1,600-block build (an ESP8266's store) when it
// is there, else the growable one. Skipped without an interpreter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { EspruinoBoard, interpreters } from "../../emu/real";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { benchConfig, buildFirmware } from "../../bench/firmware";
import { pretokenise } from "../../build/pretokenise.mjs";

const exe = interpreters.espruino1600 || interpreters.espruino;

describe.skipIf(!exe || !hasMosquitto)("battery mode on real Espruino (2v29 for Linux) with Mosquitto", () => {
  let broker: Mosquitto, peer: MqttClient, board: EspruinoBoard | undefined;
  const id = "rzz" + process.pid, T = `mcu/${id}/`, got: { topic: string; text: string; at: number }[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    peer = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 100 });
    peer.on("message", (topic, p) => got.push({ topic, text: p.toString(), at: Date.now() }));
    await peer.subscribeAsync([T + "#", `homeassistant/+/${id}/+/config`], { qos: 1 });
  });
  afterAll(async () => {
    await board?.stop();
    await peer?.endAsync(true);
    await broker?.stop();
  });

  it("wakes, publishes at QoS 1, sleeps; wakes again on schedule and applies the command sent while it slept", async () => {
    const cfg: any = benchConfig(id, broker.port, { sleep: 10, awake_max: 5 });
    delete cfg.interval;
    delete cfg.poll;
    const code = await buildFirmware("espruino-linux", cfg);
    board = EspruinoBoard.start(exe!, { ".bootcde": pretokenise(code) }, { control: false });
    const first = await board.waitLine(/^sleep \d+ ms/, 30000);
    expect(first).toMatch(/^sleep 10000 ms, awake \d+ ms$/);
    await new Promise((r) => setTimeout(r, 200));
    const tele = got.filter((m) => m.topic == T + "telemetry");
    expect(tele.length).toBe(1);
    expect(got.filter((m) => m.topic.startsWith("homeassistant/")).length).toBeGreaterThan(0);
    await peer.publishAsync(T + "cmd/relay", "ON", { qos: 1 });
    const n = board.lines.length;
    const second = await board.waitLine(/^sleep \d+ ms/, 30000, n);
    expect(second).toMatch(/^sleep 10000 ms, awake \d+ ms$/);
    await new Promise((r) => setTimeout(r, 200));
    const t2 = got.filter((m) => m.topic == T + "telemetry");
    expect(t2.length).toBe(2);
    expect(t2[1].at - t2[0].at).toBeGreaterThanOrEqual(9500);
    expect(got.filter((m) => m.topic == T + "state/relay").map((m) => m.text)).toEqual(["OFF", "ON"]);
    expect(got.filter((m) => m.topic == T + "status")).toEqual([]);
    expect(board.problems()).toEqual([]);
    if (exe == interpreters.espruino1600) console.log(`sleeper on the 1,600-block build: ${1600 - Math.round(JSON.parse(t2[1].text).mem / 12)} blocks in use at its telemetry; ${second}`);
  }, 90000);
});

// The simulated board (sim/board.ts) with the real built firmware in the Espruino emulation, against
// the simulator's embedded broker: inputs reach the firmware (inverted buttons, analog scaling, drift),
// outputs are reported as the page shows them (inverted relays, PWM at max 1), stop() is a power cut.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { startBroker, type EmbeddedBroker } from "../../sim/broker";
import { buildFirmware, emptySecrets } from "../../sim/firmware";
import { actuatorInfo, sensorInfo } from "../../sim/device";
import { SimBoard } from "../../sim/board";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("SimBoard", () => {
  let dir: string, broker: EmbeddedBroker, peer: MqttClient, board: SimBoard;
  const got: { topic: string; text: string }[] = [], vmLog: string[] = [];
  let outputs = 0;
  const next = async (topic: string, pred: (t: string) => boolean = () => true, from = 0, ms = 6000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      for (let i = from; i < got.length; i++) if (got[i].topic === topic && pred(got[i].text)) return got[i].text;
      await sleep(20);
    }
    throw new Error(`no ${topic} within ${ms} ms; console: ${vmLog.join(" | ")}`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-simboard-"));
    broker = await startBroker({ port: 0, wsPort: 0 });
    const cfg = {
      id: "t-board", broker: { host: "127.0.0.1" }, interval: 60, poll: 0.2, homeassistant: false,
      sensors: [
        { name: "temp", type: "analog", pin: "D34", scale: 100, offset: -20, precision: 1, deadband: 0.5, device_class: "temperature", unit: "°C" },
        { name: "door", type: "digital", pin: "D4", invert: true, debounce: 10 },
      ],
      actuators: [
        { name: "relay", type: "digital", pin: "D5", invert: true },
        { name: "dim", type: "pwm", pin: "D18", max: 1 },
      ],
    };
    writeFileSync(join(dir, "device.json"), JSON.stringify(cfg));
    const fw = await buildFirmware({ board: "esp32", configFile: join(dir, "device.json"), secrets: emptySecrets(dir), broker: { host: "127.0.0.1", port: broker.port }, outDir: dir });
    peer = await connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    peer.on("message", (topic, p) => got.push({ topic, text: p.toString() }));
    await peer.subscribeAsync("mcu/t-board/#");
    let seed = 7;
    board = new SimBoard({
      board: "esp32", code: fw.code, sensors: sensorInfo(fw.config, cfg), actuators: actuatorInfo(fw.config, cfg),
      log: (l) => vmLog.push(l), onOutput: () => outputs++, driftMs: 50,
      random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
    });
    await board.start();
  }, 30000);

  afterAll(async () => {
    await board?.stop();
    await peer?.endAsync(true);
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("boots: online, outputs at their safe state (an inverted relay's pin is high for OFF)", async () => {
    expect(await next("mcu/t-board/status")).toBe("online");
    expect(await next("mcu/t-board/state/relay")).toBe("OFF");
    const s = board.snapshot();
    expect(s.outputs).toEqual({ relay: 0, dim: 0 });
    expect(s.pins).toEqual({ relay: "D5 high", dim: "D18 PWM 0%" });
    expect(s.diag).toMatchObject({ board: "esp32", sockets: 1, rssi: -58, uncaught: 0 });
    expect(s.diag.heapTotal).toBe(60000);
    expect(outputs).toBeGreaterThan(0);
  });

  it("commands drive the pins; the snapshot says what the page shows", async () => {
    const n = got.length;
    await peer.publishAsync("mcu/t-board/cmd/relay", "ON");
    await peer.publishAsync("mcu/t-board/cmd/dim", "0.25");
    await next("mcu/t-board/state/dim", (t) => t === "0.25", n);
    const s = board.snapshot();
    expect(s.outputs).toEqual({ relay: 1, dim: 0.25 });
    expect(s.pins).toEqual({ relay: "D5 low", dim: "D18 PWM 25%" });
  });

  it("an analog control in the sensor's unit reaches the telemetry; the drift stays near it", async () => {
    const n = got.length;
    expect(board.set("temp", 42)).toBeNull();
    const t = JSON.parse(await next("mcu/t-board/telemetry", (x) => Math.abs(JSON.parse(x).temp - 42) < 1, n));
    expect(Math.abs(t.temp - 42)).toBeLessThanOrEqual(0.45);
    // the drift moves the reading, within ±0.4 of the control
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) { seen.add(board.snapshot().inputs.temp); await sleep(50); }
    expect(seen.size).toBeGreaterThan(1);
    for (const v of seen) expect(Math.abs(v - 42)).toBeLessThanOrEqual(0.4);
    // clamped to the range: scale 100, offset -20 -> -20..80
    expect(board.set("temp", 500)).toBeNull();
    expect(board.targets.temp).toBe(80);
  });

  it("a button press (on an inverted input) is published at once", async () => {
    const n = got.length;
    expect(board.set("door", 1)).toBeNull();
    expect(board.emu.pins.get("D4")).toBe(0); // inverted: pressed is low
    await next("mcu/t-board/telemetry", (x) => JSON.parse(x).door === true, n, 3000);
    board.set("door", 0);
    await next("mcu/t-board/telemetry", (x) => JSON.parse(x).door === false, n, 3000);
  });

  it("refuses unknown sensors and values that are not numbers", () => {
    expect(board.set("nope", 1)).toBe('no sensor "nope"');
    expect(board.set("temp", NaN)).toBe("value for temp must be a number");
    expect(board.set("temp", "3" as any)).toBe("value for temp must be a number");
  });

  it("stop() is a power cut: the broker publishes the will; nothing went wrong inside", async () => {
    expect(board.emu.uncaught).toEqual([]);
    expect(board.emu.warnings).toEqual([]);
    const n = got.length;
    await board.stop();
    expect(await next("mcu/t-board/status", (t) => t === "offline", n, 3000)).toBe("offline");
    await expect(board.emu.run(1)).rejects.toThrow(/dispose/);
  });
});

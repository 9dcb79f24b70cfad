// The BUILT esp8266 firmware (esbuild + swc, ES5, minified, config compiled in) in the Espruino emulation
// (QuickJS with Espruino's traps, WiFi, pins, Storage; emu/espruino.ts) against a real
// Mosquitto: it joins WiFi, connects, announces itself, publishes telemetry, obeys a command on a pin,
// and recovers after WiFi drops, all inside an ESP8266-sized memory cap.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, MqttClient } from "mqtt";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { createEspruino, Espruino } from "../../emu/espruino";
// @ts-ignore: build scripts are plain ESM
import { bundle, ROOT } from "../../build/build.mjs";
import { firmwareDefines } from "../../build/config.mjs";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasMosquitto)("built esp8266 firmware in the Espruino emulation", () => {
  let broker: Mosquitto, emu: Espruino, obs: MqttClient, dir: string;
  const got: { topic: string; text: string; retain: boolean }[] = [];
  const next = async (topic: string, from = 0, pred: (t: string) => boolean = () => true) => {
    for (let i = 0; i < 500; i++) {
      for (let j = from; j < got.length; j++) if (got[j].topic == topic && pred(got[j].text)) return got[j];
      await emu.run(20);
    }
    throw new Error(`no ${topic}; got ${got.slice(from).map((m) => m.topic).join(", ")}; console: ${emu.console.join(" | ")}`);
  };

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-fw-"));
    const cfg = JSON.parse(JSON.stringify(await import("../../examples/device.json", { with: { type: "json" } }).then((m) => m.default)));
    cfg.id = "emu" + process.pid;
    cfg.broker = { host: "127.0.0.1", port: broker.port, username: "dev" };
    cfg.interval = 30;
    writeFileSync(join(dir, "device.json"), JSON.stringify(cfg));
    writeFileSync(join(dir, "secrets.json"), JSON.stringify({ wifi: { password: "pw-123" }, broker: { password: "mq-456" } }));
    const code = await bundle({ entry: "src/app/main.ts", out: join(dir, "esp8266.js"), alias: { board: join(ROOT, "boards/esp8266.ts") },
      define: firmwareDefines("esp8266", { file: join(dir, "device.json") }) });
    obs = await connectAsync({ host: "127.0.0.1", port: broker.port });
    obs.on("message", (topic, p, pk) => got.push({ topic, text: p.toString(), retain: !!pk.retain }));
    await obs.subscribeAsync([`mcu/${cfg.id}/#`, `homeassistant/+/${cfg.id}/+/config`]);
    emu = await createEspruino({ board: "esp8266", fakeTime: true, wifi: { ssid: "my-wifi", password: "pw-123", rssi: -58 } });
    emu.load(code);
  });
  afterAll(async () => {
    emu?.dispose();
    await obs?.endAsync(true);
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("joins WiFi, connects, announces itself and publishes telemetry", async () => {
    const id = "emu" + process.pid, t = `mcu/${id}/`;
    expect((await next(t + "status")).text).toBe("online");
    expect((await next(t + "state/relay")).text).toBe("OFF");
    await next(`homeassistant/light/${id}/lamp/config`);
    // the first telemetry follows the announce (#13 item 8): the WiFi details are known by then
    expect(JSON.parse((await next(t + "telemetry")).text)).toMatchObject({ rssi: -58 });
    await emu.run(1000); // a cmd/telemetry within 1 s of the last publication is ignored
    const n = got.length;
    await obs.publishAsync(t + "cmd/telemetry", "");
    const tele = JSON.parse((await next(t + "telemetry", n)).text);
    expect(tele).toMatchObject({ light: 0, door: false, uptime: expect.any(Number), rssi: -58, reconnects: 0 });
    expect(tele.mem).toBeGreaterThan(0);
    expect(emu.uncaught).toEqual([]);
    expect(emu.warnings).toEqual([]);
  });

  it("a command drives the pin; the state is echoed", async () => {
    const t = `mcu/emu${process.pid}/`, n = got.length;
    expect(emu.pins.output("D5")).toBe(1); // relay OFF, active low
    await obs.publishAsync(t + "cmd/relay", "ON");
    expect((await next(t + "state/relay", n)).text).toBe("ON");
    expect(emu.pins.output("D5")).toBe(0);
    await obs.publishAsync(t + "cmd/lamp", "bogus");
    expect(JSON.parse((await next(t + "error", n)).text)).toEqual({ cmd: "lamp", payload: "bogus", error: "bad payload" });
  });

  it("an input edge is published at once", async () => {
    const t = `mcu/emu${process.pid}/`, n = got.length;
    emu.pins.set("D4", 1);
    await next(t + "telemetry", n, (x) => JSON.parse(x).door === true);
  });

  // A stale timer id must not kill the close handler: Espruino throws "Unknown Timeout" when clearing a
  // timer that already fired (the Espruino boards' clearTimer tolerates it).
  it("comes back after WiFi drops", async () => {
    const t = `mcu/emu${process.pid}/`, n = got.length;
    emu.wifi.drop();
    emu.dropConnections();
    await emu.run(3000);
    emu.wifi.restore();
    expect((await next(t + "status", n, (x) => x == "offline")).retain).toBe(false); // the will, live
    await next(t + "status", n, (x) => x == "online");
    await next(t + "state/lamp", n);
    await obs.publishAsync(t + "cmd/telemetry", "");
    const tele = await next(t + "telemetry", n, (x) => JSON.parse(x).reconnects == 1);
    expect(JSON.parse(tele.text).reconnects).toBe(1);
    expect(emu.uncaught).toEqual([]);
  });

  it("no secret was published", () => {
    for (const m of got) { expect(m.text).not.toContain("pw-123"); expect(m.text).not.toContain("mq-456"); }
    for (const l of emu.console) { expect(l).not.toContain("pw-123"); expect(l).not.toContain("mq-456"); }
  });
});

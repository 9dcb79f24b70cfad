// What the simulated board offers the page (sim/device.ts), the broker override of the compiled config
// (sim/firmware.ts pointAt), and the terminal log's formatting (sim/log.ts).
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { actuatorInfo, driftStep, pinName, rawFor, sensorInfo } from "../../sim/device";
import { demoSecrets, pointAt } from "../../sim/firmware";
import { describeTopic, discoveryOf, fit, Logger } from "../../sim/log";
import { firmwareDefines } from "../../build/config.mjs";

function simDefines(board = "esp32") {
  const d = mkdtempSync(join(tmpdir(), "mqtt-mcu-simdev-"));
  try { return firmwareDefines(board, { file: "examples/sim.json", secrets: demoSecrets(d) }) as Record<string, any>; }
  finally { rmSync(d, { recursive: true, force: true }); }
}

describe("examples/sim.json as the page sees it", () => {
  const c = simDefines().__CONFIG__;

  it("sensors: a temperature slider in °C that drifts, a push button, a knob in %", () => {
    expect(sensorInfo(c)).toEqual([
      { name: "temperature", label: "Temperature", type: "analog", pin: "D34", unit: "°C", kind: "analog", min: -10, max: 50, step: 0.1, value: 21, drift: true, scale: 60, offset: -10 },
      { name: "button", label: "Push button", type: "digital", pin: "D4", unit: "", kind: "button", min: 0, max: 1, step: 1, value: 0, drift: false, invert: false },
      { name: "knob", label: "Knob", type: "analog", pin: "D35", unit: "%", kind: "analog", min: 0, max: 100, step: 1, value: 30, drift: false, scale: 100, offset: 0 },
    ]);
  });

  it("actuators: the LED (a light), the relay (a switch), the fan (PWM 0..100, a number)", () => {
    expect(actuatorInfo(c)).toEqual([
      { name: "led", label: "LED", kind: "digital", pin: "D2", max: 1, invert: false, component: "light" },
      { name: "relay", label: "Relay", kind: "digital", pin: "D5", max: 1, invert: false, component: "switch" },
      { name: "fan", label: "Fan", kind: "pwm", pin: "D18", max: 100, invert: false, component: "number" },
    ]);
  });

  it("builds for esp8266 too (its one analog pin for the temperature, no knob)", () => {
    const s = sensorInfo(simDefines("esp8266").__CONFIG__);
    expect(s.map((x) => `${x.name}@${x.pin}`)).toEqual(["temperature@A0", "button@D4"]);
  });
});

describe("sensor controls", () => {
  const base = { id: "", name: "", sw: "0", broker: { host: "h", port: 1 }, base: "mcu", interval: 1000, poll: 1000, restore: "none" as const, actuators: [] };

  it("an analog range follows scale and offset (a negative scale too), with a step no finer than the precision", () => {
    const [a, b] = sensorInfo({ ...base, sensors: [
      { name: "p", type: "analog", pin: 36, scale: -2, offset: 5, round: 1000 },
      { name: "q", type: "analog", pin: "D32", scale: 1e6, offset: 0, round: 100 },
    ] });
    expect([a.min, a.max, a.step, a.pin]).toEqual([3, 5, 0.01, "D36"]); // 2 units: 0.001 would be 2000 positions
    expect(a.value).toBeCloseTo(3.6, 9);
    expect([b.min, b.max, b.step]).toEqual([0, 1e6, 1000]);
  });

  it("the on-chip temperature and sensors with no emulated bus", () => {
    const s = sensorInfo({ ...base, sensors: [{ name: "chip", type: "temperature" }, { name: "probe", type: "ds18b20", pin: "D4" }] });
    expect(s[0]).toMatchObject({ kind: "temperature", unit: "°C", drift: true, pin: null });
    expect(s[1]).toMatchObject({ kind: "none", type: "ds18b20" });
  });

  it("rawFor: the pin reading (0..1) that makes the sensor read a value, clamped", () => {
    const t = sensorInfo({ ...base, sensors: [{ name: "t", type: "analog", pin: "D34", scale: 60, offset: -10, round: 10 }] })[0];
    expect(rawFor(t, 20)).toBeCloseTo(0.5, 12);
    expect(rawFor(t, -10)).toBe(0);
    expect(rawFor(t, 80)).toBe(1);
    expect(rawFor(t, -40)).toBe(0);
  });

  it("driftStep: a bounded random walk that is pulled back to 0", () => {
    let w = 0, seed = 1;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    let max = 0;
    for (let i = 0; i < 10000; i++) { w = driftStep(w, rnd()); max = Math.max(max, Math.abs(w)); }
    expect(max).toBeLessThanOrEqual(0.4);
    expect(max).toBeGreaterThan(0.1); // it does move
    expect(driftStep(0.3, 0.5)).toBeLessThan(0.3); // no push: back towards 0
    expect(driftStep(0, 1)).toBeCloseTo(0.06, 12);
  });

  it("with Home Assistant off, units and labels come from the device.json itself", () => {
    const raw = { sensors: [{ name: "t", unit: "°C", label: "Room" }], actuators: [{ name: "lamp", component: "light", label: "Desk lamp" }] };
    const c = { ...base, sensors: [{ name: "t", type: "analog", pin: "D34", scale: 50, offset: 0, round: 10 }], actuators: [{ name: "lamp", type: "digital", pin: "D2" }] };
    expect(sensorInfo(c)[0]).toMatchObject({ label: "T", unit: "", drift: false });
    expect(sensorInfo(c, raw)[0]).toMatchObject({ label: "Room", unit: "°C", drift: true, value: 21 });
    expect(actuatorInfo(c)[0]).toMatchObject({ label: "Lamp", component: "switch" });
    expect(actuatorInfo(c, raw)[0]).toMatchObject({ label: "Desk lamp", component: "light" });
  });

  it("pinName: numbers are Espruino's D pins", () => {
    expect([pinName(2), pinName("2"), pinName("D2"), pinName("A0")]).toEqual(["D2", "D2", "D2", "A0"]);
  });
});

describe("pointAt: the firmware goes to the simulator's broker", () => {
  it("host and port; TCP", () => {
    const d = simDefines();
    expect(pointAt(d, { host: "127.0.0.1", port: 41234 })).toEqual(["broker mqtt://127.0.0.1:1883 in the config -> mqtt://127.0.0.1:41234"]);
    expect(d.__CONFIG__.broker).toMatchObject({ host: "127.0.0.1", port: 41234, keepalive: 30 });
    expect(d.__CONFIG__.broker.ws).toBeUndefined();
    expect(d.__WS__).toBe(false);
    expect(pointAt(d, { host: "127.0.0.1", port: 41234 })).toEqual([]); // nothing changed: nothing to say
  });

  it("broker.hosts (a cluster) gives way to the simulator's one broker, with a note", () => {
    const d = simDefines();
    d.__CONFIG__.broker.servers = [{ host: "a.lan" }, { host: "b.lan", port: 1884 }];
    expect(pointAt(d, { host: "127.0.0.1", port: 41234 })).toEqual(["broker.hosts: the simulator connects to its one broker",
      "broker mqtt://127.0.0.1:1883 in the config -> mqtt://127.0.0.1:41234"]);
    expect(d.__CONFIG__.broker.servers).toBeUndefined();
    expect(d.__CONFIG__.broker).toMatchObject({ host: "127.0.0.1", port: 41234 });
  });

  it("WebSocket turns __WS__ on; TLS is dropped with a note", () => {
    const d = simDefines();
    d.__CONFIG__.broker.tls = { ca: "x" };
    const notes = pointAt(d, { host: "broker.lan", port: 9001, ws: "/mqtt" });
    expect(notes).toEqual(["broker.tls is off in the simulator", "broker mqtts://127.0.0.1:1883 in the config -> ws://broker.lan:9001/mqtt"]);
    expect(d.__CONFIG__.broker).toMatchObject({ host: "broker.lan", port: 9001, ws: "/mqtt" });
    expect(d.__CONFIG__.broker.tls).toBeUndefined();
    expect(d.__WS__).toBe(true);
  });

  it("with TLS dropped the password goes too (no credentials in clear text), said in one line", () => {
    const d = simDefines();
    Object.assign(d.__CONFIG__.broker, { tls: true, username: "u", password: "secret" });
    const notes = pointAt(d, { host: "broker.lan", port: 1883 });
    expect(notes).toEqual(["broker.tls is off in the simulator", "broker.password is not sent without TLS: removed",
      "broker mqtts://127.0.0.1:1883 in the config -> mqtt://broker.lan:1883"]);
    expect(d.__CONFIG__.broker.password).toBeUndefined();
    expect(d.__CONFIG__.broker.username).toBe("u");
    expect(notes.join("\n")).not.toContain("secret");
  });

  it("without TLS in the config the password stays (it was already meant for a clear link)", () => {
    const d = simDefines();
    Object.assign(d.__CONFIG__.broker, { username: "u", password: "p" });
    expect(pointAt(d, { host: "broker.lan", port: 1883 })).toEqual(["broker mqtt://127.0.0.1:1883 in the config -> mqtt://broker.lan:1883"]);
    expect(d.__CONFIG__.broker.password).toBe("p");
  });
});

describe("the terminal log", () => {
  it("fit cuts with … and makes control characters harmless", () => {
    expect(fit("hello", 10)).toBe("hello");
    expect(fit("hello world", 6)).toBe("hello…");
    expect(fit("a\x1b[2Jb\n", 10)).toBe("a·[2Jb·");
  });

  it("topics under the device's root are ~/...; commands go to the device", () => {
    expect(describeTopic("mcu/sim", "mcu/sim/telemetry")).toEqual({ short: "~/telemetry", toDevice: false });
    expect(describeTopic("mcu/sim", "mcu/sim/cmd/led")).toEqual({ short: "~/cmd/led", toDevice: true });
    expect(describeTopic("mcu/sim", "mcu/simx/cmd/led")).toEqual({ short: "mcu/simx/cmd/led", toDevice: false });
    expect(discoveryOf("homeassistant", "sim", "homeassistant/light/sim/led/config")).toBe("light led");
    expect(discoveryOf("homeassistant", "sim", "homeassistant/light/other/led/config")).toBeNull();
  });

  it("one line per message; a discovery burst folded into one line", async () => {
    const lines: string[] = [];
    const log = new Logger({ write: (s) => lines.push(s), width: 80, now: () => new Date(2024, 0, 1, 9, 5, 7) });
    log.root = "mcu/sim"; log.id = "sim";
    log.mqtt("mcu/sim/cmd/led", "TOGGLE", false);
    log.mqtt("mcu/sim/state/led", "ON", true);
    log.mqtt("homeassistant/light/sim/led/config", "{}", true);
    log.mqtt("homeassistant/switch/sim/relay/config", "{}", true);
    log.mqtt("mcu/sim/telemetry", JSON.stringify({ temperature: 21.5, text: "x".repeat(200) }), false);
    log.board("Uncaught Error: x");
    log.stop();
    expect(lines).toEqual([
      "09:05:07 ← ~/cmd/led TOGGLE\n",
      "09:05:07 → ~/state/led ON (retained)\n",
      `09:05:07 → ~/telemetry ${'{"temperature":21.5,"text":"' + "x".repeat(28)}…\n`,
      "09:05:07 ▪ Uncaught Error: x\n",
      "09:05:07 → Home Assistant discovery: 2 entities (light led, switch relay)\n",
    ]);
  });

  it("colours only when asked", () => {
    const plain: string[] = [], coloured: string[] = [];
    new Logger({ write: (s) => plain.push(s) }).info("x");
    new Logger({ write: (s) => coloured.push(s), color: true }).info("x");
    expect(plain[0]).not.toContain("\x1b[");
    expect(coloured[0]).toContain("\x1b[");
  });
});

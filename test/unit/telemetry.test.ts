// The sensor loop alone (src/app/telemetry.ts), on a fake clock: cadence, deadbands, async drivers, and
// drivers that fail, throw or never answer.
import { afterEach, describe, expect, it } from "vitest";
import { fakeClock } from "../helpers/fake-clock";
import { board as host, hostPins } from "../../boards/host";
import { DRIVERS } from "../../src/app/sensors";
import { telemetry } from "../../src/app/telemetry";
import type { Config, SensorConfig } from "../../src/app/config";

const cfg = (sensors: SensorConfig[], interval = 10000, poll = 1000) =>
  ({ sensors, interval, poll, actuators: [], base: "mcu", id: "x", name: "", sw: "0", restore: "none", broker: { host: "h", port: 1 } }) as Config;

function run(c: Config) {
  const clock = fakeClock(), sent: any[] = [], errors: string[] = [];
  const t = telemetry(c, { ...host, clock }, (o) => sent.push(o), (name, why) => errors.push(name + ": " + why));
  return { clock, sent, errors, t };
}

afterEach(() => { hostPins.reset(); delete DRIVERS.later; delete DRIVERS.stuck; });

describe("telemetry loop", () => {
  it("publishes at start and then every interval; polls only trigger beyond the deadband", () => {
    hostPins.analog.A0 = 0.2;
    const r = run(cfg([{ name: "a", type: "analog", pin: "A0", scale: 10, offset: 1, deadband: 0.5, round: 10 }]));
    expect(r.sent).toEqual([{ a: 3 }]);
    r.clock.advance(9000);
    expect(r.sent.length).toBe(1);
    r.clock.advance(1000);
    expect(r.sent.length).toBe(2);
    hostPins.analog.A0 = 0.24; // 3.4: inside the deadband
    r.clock.advance(1000);
    expect(r.sent.length).toBe(2);
    hostPins.analog.A0 = 0.26; // 3.6: beyond it
    r.clock.advance(1000);
    expect(r.sent).toEqual([{ a: 3 }, { a: 3 }, { a: 3.6 }]);
    r.t.now();
    expect(r.sent.length).toBe(4);
    r.t.stop();
    r.clock.advance(60000);
    expect(r.sent.length).toBe(4);
  });

  it("waits for asynchronous drivers; values are rounded", () => {
    DRIVERS.later = (s, b) => ({ read: (done) => { b.clock.setTimer(() => done(1 / 3), 750); } });
    const r = run(cfg([{ name: "x", type: "later", round: 100 }]));
    expect(r.sent).toEqual([]);
    r.clock.advance(750);
    expect(r.sent).toEqual([{ x: 0.33 }]);
  });

  it("a throwing, failing or silent driver reads null with an error, once; the loop goes on", () => {
    let mode = "throw";
    DRIVERS.stuck = () => ({
      read: (done) => {
        if (mode == "throw") throw new Error("bus fault");
        if (mode == "nan") return NaN;
        if (mode == "fail") return void done(null, "CRC");
        if (mode == "ok") return 7;
        return undefined; // never calls back
      },
    });
    const r = run(cfg([{ name: "s", type: "stuck" }, { name: "t", type: "temperature" }], 10000, 10000));
    expect(r.sent[0]).toMatchObject({ s: null });
    r.clock.advance(10000);
    expect(r.errors.filter((e) => e.startsWith("s:"))).toEqual(["s: bus fault"]); // not repeated
    mode = "nan";
    r.clock.advance(10000);
    mode = "fail";
    r.clock.advance(10000);
    mode = "silent";
    r.clock.advance(10000); // the round waits...
    const n = r.sent.length;
    r.clock.advance(10000); // ...10 s at most
    expect(r.sent.length).toBe(n + 1);
    mode = "ok";
    r.clock.advance(20000); // the silent round is given up, the next one reads
    expect(r.sent[r.sent.length - 1].s).toBe(7);
    expect(r.errors.filter((e) => e.startsWith("s:"))).toEqual(["s: bus fault", "s: no reading", "s: CRC", "s: no answer"]);
  });

  it("an unknown driver type fails as a sensor, not as the firmware", () => {
    const r = run(cfg([{ name: "q", type: "nosuch" }]));
    expect(r.sent).toEqual([{ q: null }]);
    expect(r.errors[0]).toMatch(/^q: driver nosuch: /);
  });

  it("a digital input publishes on its edges", () => {
    const r = run(cfg([{ name: "door", type: "digital", pin: "D4", debounce: 0, deadband: 0 }], 60000, 60000));
    hostPins.input("D4", true);
    hostPins.input("D4", false);
    expect(r.sent).toEqual([{ door: false }, { door: true }, { door: false }]);
    r.t.stop();
    expect(hostPins.watching("D4")).toBe(0);
  });

  it("a request over the network (now(1)) within 1 s of the last send is ignored; now() and edges are not", () => {
    hostPins.analog.A0 = 0.2;
    const r = run(cfg([{ name: "a", type: "analog", pin: "A0", scale: 1, offset: 0 }, { name: "door", type: "digital", pin: "D4", debounce: 0, deadband: 0 }], 60000, 60000));
    expect(r.sent.length).toBe(1);
    for (let i = 0; i < 50; i++) r.t.now(1); // a flood of cmd/telemetry
    expect(r.sent.length).toBe(1);
    r.clock.advance(999);
    r.t.now(1);
    expect(r.sent.length).toBe(1);
    r.clock.advance(1);
    r.t.now(1);
    expect(r.sent.length).toBe(2);
    r.t.now(); // the firmware's own API
    expect(r.sent.length).toBe(3);
    hostPins.input("D4", true); // an edge right after a send
    expect(r.sent[r.sent.length - 1]).toEqual({ a: 0.2, door: true });
  });

  it("stop() forgets the timer id it cleared (Espruino reuses ids: a second stop must not clear another timer)", () => {
    const clock = fakeClock(), cleared: any[] = [];
    const c = { ...clock, clearTimer(id: any) { cleared.push(id); clock.clearTimer(id); } };
    const t = telemetry(cfg([]), { ...host, clock: c }, () => {}, () => {});
    t.stop();
    expect(cleared[0]).toBeTruthy();
    const other = clock.setTimer(() => {}, 1000); // may get the same id on Espruino
    t.stop();
    expect(cleared.slice(1).filter(Boolean)).toEqual([]);
    expect(clock.pending()).toBe(1);
    clock.clearTimer(other);
  });
});

// Sensor decoding and command parsing, from datasheet vectors. The DS18B20 driver runs against a
// scripted 1-Wire bus (Espruino's OneWire cannot run here); the bus protocol is what Espruino's
// DS18B20 module sends.
import { describe, expect, it } from "vitest";
import { dht22Value, ds18b20Temp, DRIVERS } from "../../src/app/sensors";
import { parse, Actuator } from "../../src/app/actuators";
import { fakeClock } from "../helpers/fake-clock";
import { board as host } from "../../boards/host";

/** Maxim/Dallas CRC-8 (x^8 + x^5 + x^4 + 1, reflected), written independently of the firmware's */
function dallasCrc(bytes: number[]) {
  let crc = 0;
  for (const b of bytes) for (let i = 0; i < 8; i++) {
    const mix = (crc ^ (b >> i)) & 1;
    crc >>= 1;
    if (mix) crc ^= 0x8c;
  }
  return crc;
}
const bits = (bytes: number[]) => bytes.map((b) => b.toString(2).padStart(8, "0")).join("");

describe("DS18B20", () => {
  it("decodes scratchpads, checks the CRC", () => {
    expect(ds18b20Temp([0x50, 0x05, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10, 0x1c])).toBe(85); // power-on value, CRC 0x1C
    const neg = [0x5e, 0xff, 0x4b, 0x46, 0x7f, 0xff, 0x02, 0x10]; // -10.125 (datasheet table 1)
    expect(ds18b20Temp([...neg, dallasCrc(neg)])).toBe(-10.125);
    const pos = [0x91, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0f, 0x10]; // +25.0625
    expect(ds18b20Temp([...pos, dallasCrc(pos)])).toBe(25.0625);
    expect(ds18b20Temp([...pos, dallasCrc(pos) ^ 1])).toBeNull();
    expect(ds18b20Temp([255, 255, 255, 255, 255, 255, 255, 255, 255])).toBeNull(); // nothing on the bus
    // a bus shorted to ground reads all zeros, whose CRC is 0 too: the config register (0bR11111) rejects it
    expect(dallasCrc([0, 0, 0, 0, 0, 0, 0, 0])).toBe(0);
    expect(ds18b20Temp([0, 0, 0, 0, 0, 0, 0, 0, 0])).toBeNull();
    // every resolution (R1 R0 = 00..11) is accepted; a bad fixed bit is not
    for (const cfg of [0x1f, 0x3f, 0x5f, 0x7f]) {
      const p = [0x91, 0x01, 0x4b, 0x46, cfg, 0xff, 0x0f, 0x10];
      expect(ds18b20Temp([...p, dallasCrc(p)])).toBe(25.0625);
    }
    for (const cfg of [0xff, 0x7e, 0x0f]) {
      const p = [0x91, 0x01, 0x4b, 0x46, cfg, 0xff, 0x0f, 0x10];
      expect(ds18b20Temp([...p, dallasCrc(p)])).toBeNull();
    }
    expect(ds18b20Temp([0x50, 0x05, 0x4b, 0x46])).toBeNull(); // a short read
  });

  it("the driver: convert, wait 750 ms, read the scratchpad; a missing device is an error", () => {
    const clock = fakeClock(), sent: any[] = [], pad = [0x91, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0f, 0x10];
    let present = true;
    const ow = { reset: () => present, skip: () => sent.push("skip"), select: (r: string) => sent.push("select " + r),
      write: (c: number) => sent.push(c), read: (n: number) => [...pad, dallasCrc(pad)].slice(0, n), search: () => ["28aa", "28bb"] };
    const b = { ...host, clock, onewire: () => ow };
    const d = DRIVERS.ds18b20({ name: "t", type: "ds18b20", pin: "D4", index: 1 }, b);
    const got: any[] = [];
    expect(d.read((v, e) => got.push([v, e]))).toBeUndefined();
    expect(sent).toEqual(["select 28bb", 0x44]);
    clock.advance(749);
    expect(got).toEqual([]);
    clock.advance(1);
    expect(got).toEqual([[25.0625, undefined]]);
    expect(sent).toEqual(["select 28bb", 0x44, "select 28bb", 0xbe]);
    present = false;
    expect(() => d.read(() => {})).toThrow("no device on the 1-Wire bus");
  });
});

describe("DHT22", () => {
  it("decodes the datasheet's example and negative temperatures; a bad checksum is null", () => {
    const h = [0x02, 0x8c], t = [0x01, 0x5f], sum = (a: number[]) => a.reduce((x, y) => x + y, 0) & 255;
    const frame = [...h, ...t, sum([...h, ...t])];
    expect(dht22Value("01" + bits(frame))).toBe(35.1); // two response pulses, then 40 data bits
    expect(dht22Value("01" + bits(frame), true)).toBe(65.2);
    const neg = [0x02, 0x8c, 0x80, 0x65];
    expect(dht22Value(bits([...neg, sum(neg)]))).toBe(-10.1);
    expect(dht22Value(bits([...h, ...t, sum([...h, ...t]) ^ 4]))).toBeNull();
    expect(dht22Value("0101")).toBeNull();
  });

  it("needs Espruino's pulse timing: elsewhere the read fails (the loop reports null and the error)", () => {
    const d = DRIVERS.dht22({ name: "t", type: "dht22", pin: "D4" }, { ...host, clock: fakeClock() });
    expect(() => d.read(() => {})).toThrow();
  });
});

describe("command payloads", () => {
  const relay = (): Actuator => ({ c: { name: "r", type: "digital", pin: "D5" }, v: 0, on: 0 });
  const lamp = (max = 100, v = 0, on = 0): Actuator => ({ c: { name: "l", type: "pwm", pin: "D6", max }, v, on });
  it("on/off words in any case, numbers, JSON {state}", () => {
    for (const [p, v] of [["ON", 1], ["on", 1], ["true", 1], ["TRUE", 1], ["1", 1], ["OFF", 0], ["false", 0], ["0", 0],
      ['{"state":"ON"}', 1], ['{"state":true}', 1], ['{"state":0}', 0], [" on\n", 1]] as const) expect(parse(p, relay()), p).toBe(v);
    expect(parse("TOGGLE", relay())).toBe(1);
    expect(parse("toggle", { ...relay(), v: 1 })).toBe(0);
    expect(parse("55.5", lamp())).toBe(55.5);
    expect(parse("ON", lamp())).toBe(100);
    expect(parse("ON", lamp(100, 0, 30))).toBe(30);
    expect(parse("TOGGLE", lamp(100, 30, 30))).toBe(0);
    expect(parse("0.25", lamp(1))).toBe(0.25);
    expect(parse('{"state":"1"}', lamp(1))).toBe(1);
  });
  it("anything else is an error string", () => {
    for (const [p, a, e] of [["2", relay(), "out of range 0..1"], ["0.5", relay(), "out of range 0..1"], ["101", lamp(), "out of range 0..100"],
      ["1.5", lamp(1), "out of range 0..1"], ["-0.1", lamp(), "out of range 0..100"], ["bogus", relay(), "bad payload"], ["", lamp(), "bad payload"],
      ["{", relay(), "bad payload"], ['{"value":1}', relay(), "bad payload"], ["12abc", lamp(), "bad payload"], [null, relay(), "bad payload"]] as const)
      expect(parse(p, a), String(p)).toBe(e);
  });
});

// Sensor drivers. A driver is made once per configured sensor by DRIVERS[type](config, board) and
// read on the schedule: read(done) returns the value at once, or returns undefined and calls
// done(value, error) once later. A value is a number, a boolean or null (no reading); a throw or an
// error string means "failed": the sensor reports null and an error, the loop goes on.
// The analog, digital and temperature sensors need no driver: the loop reads them from their config
// (telemetry.ts). The DS18B20 and DHT22 drivers are kept only when the build's config uses them
// (build/config.mjs defines the __X__ flags; without them, as in tests, both are there).
import type { Board } from "../../boards/board";
import type { SensorConfig } from "./config";

export type Reading = number | boolean | null;
export type Done = (v: Reading, error?: string) => void;
export interface Driver {
  read(done: Done): Reading | void;
  /** optional: call `changed` whenever a new value is worth publishing at once (an input edge);
   *  returns a board watch handle (unwatched on stop) or nothing */
  watch?(changed: () => void): any;
}
export type DriverFactory = (s: SensorConfig, b: Board) => Driver;

declare const __DS18B20__: boolean, __DHT22__: boolean;

/** type -> factory. Add a custom driver here (and its keys to SENSOR_TYPES in build/config.mjs). */
export var DRIVERS: { [type: string]: DriverFactory } = {};

/** DS18B20 scratchpad (9 bytes) -> degrees C, or null when the CRC fails (no device, bad wiring) or
 *  the config register is not 0bx11111 (all zeros, which pass the CRC: a bus shorted to ground) */
export function ds18b20Temp(d: number[]): number | null {
  var c = 0, i = 0, j: number, x: number, t: number;
  for (; i < 8; i++) for (x = d[i], j = 0; j < 8; j++, x >>= 1) c = (c ^ x) & 1 ? c >> 1 ^ 0x8c : c >> 1;
  if (c != d[8] || (d[4] & 0x9f) != 0x1f) return null;
  t = d[1] << 8 | d[0];
  return (t > 32767 ? t - 65536 : t) / 16;
}

if (typeof __DS18B20__ == "undefined" || __DS18B20__) DRIVERS.ds18b20 = function (s, b) {
  var ow = b.onewire!(s.pin!), rom: any;
  function cmd(c: number) {
    if (!ow.reset()) throw "no device on the 1-Wire bus";
    if (rom) ow.select(rom); else ow.skip();
    ow.write(c, true);
  }
  return {
    read: function (done) {
      if (s.index != null && !rom && !(rom = ow.search()[s.index])) throw "no device " + s.index + " on the 1-Wire bus";
      cmd(0x44); // convert; 750 ms at 12 bits
      b.clock.setTimer(function () {
        var t: number | null = null;
        try { cmd(0xbe); t = ds18b20Temp(ow.read(9)); } catch (e) {}
        done(t, t == null ? "bad scratchpad (CRC)" : undefined);
      }, 750);
    },
  };
};

/** DHT22 bits (one char per high pulse: "1" long, "0" short) -> value, or null when the checksum fails.
 *  The last 40 pulses are the data: humidity 16 bits, temperature 15 bits + sign, checksum 8 bits. */
export function dht22Value(bits: string, humidity?: boolean): number | null {
  var d = bits.substr(bits.length - 40), n = [0, 0, 0, 0, 0], i = 0;
  if (d.length < 40) return null;
  for (; i < 40; i++) n[i >> 3] = n[i >> 3] * 2 + +(d.charAt(i) == "1");
  if ((n[0] + n[1] + n[2] + n[3] & 255) != n[4]) return null;
  return humidity ? (n[0] * 256 + n[1]) / 10 : ((n[2] & 127) * 256 + n[3]) / (n[2] & 128 ? -10 : 10);
}

// DHT22 needs microsecond pulse timing, which only Espruino's setWatch gives (e.time - e.lastTime is
// the high time of the pulse a falling edge ends). Elsewhere the read throws: null and an error.
declare var pinMode: (p: any, m: string) => void, digitalWrite: (p: any, v: number) => void,
  setWatch: (f: (e: any) => void, p: any, o: any) => any, clearWatch: (w: any) => void;

interface Dht { at: number; bits: string; q: Array<() => void> | null }
var dhts: { [pin: string]: Dht } = {};

if (typeof __DHT22__ == "undefined" || __DHT22__) DRIVERS.dht22 = function (s, b) {
  var clk = b.clock;
  return {
    // one bus read serves every sensor on the pin (temperature and humidity) for 2 s
    read: function (done) {
      var d = dhts[s.pin!] || (dhts[s.pin!] = { at: -1e9, bits: "", q: null }), w: any;
      function out() { var v = dht22Value(d.bits, s.humidity); done(v, v == null ? "no answer or bad checksum" : undefined); }
      if (clk.now() - d.at < 2000) return out();
      if (d.q) return void d.q.push(out);
      pinMode(s.pin, "output");
      digitalWrite(s.pin, 0); // start signal: low for > 1 ms, then let the pull-up raise it
      d.bits = "";
      w = setWatch(function (e) { d.bits += +(e.time - e.lastTime > 0.00005); }, s.pin, { edge: "falling", repeat: true });
      d.q = [out];
      clk.setTimer(function () { pinMode(s.pin, "input_pullup"); }, 2);
      clk.setTimer(function () {
        var q = d.q!, i = 0;
        clearWatch(w);
        d.at = clk.now();
        d.q = null;
        for (; i < q.length; i++) q[i]();
      }, 60);
    },
  };
};

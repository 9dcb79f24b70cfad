// IoT.js (JerryScript + libuv, Linux or NuttX): modules net, gpio, adc, pwm (the 1.0 openSync API).
// Its sockets speak Buffers and encode strings as CESU-8, so bytes cross that edge byte by byte
// (IoT.js Buffers have no latin1 encoding and no guaranteed index access: readUInt8 / new Buffer(array)).
// The network belongs to the OS: always up.
import type { Board, Network, Pin, Pins } from "./board";
import type { Transport } from "../src/mqtt/port";
import { need, timers } from "../src/index";
import { err, TRANSPORT } from "../src/mqtt/errors";
import { sysMac } from "./sysmac";

declare var Buffer: any;
declare var process: any;

/** IoT.js ADC readings are raw counts: full scale of a 12-bit converter */
var ADC_MAX = 4095;

function str(b: any): string {
  var r = "", i = 0;
  if (typeof b == "string") return b;
  for (; i < b.length; i++) r += String.fromCharCode(b.readUInt8(i));
  return r;
}

var tcp: Transport = function (host, port, ev) {
  var s = need("net").connect({ host: host, port: port }, function () { ev.open(); });
  s.on("data", function (d: any) { ev.data(str(d)); });
  s.on("error", function (e: any) { ev.close(err(TRANSPORT, "socket error: ", null, e)); });
  s.on("close", function () { ev.close(); });
  return {
    // (inline, not a helper: the minifier would make a single-use helper a closure per call)
    write: function (d: string) {
      var a: number[] = [], i = 0;
      for (; i < d.length; i++) a[i] = d.charCodeAt(i) & 255;
      s.write(new Buffer(a));
    },
    close: function () { s.end(); s.destroy(); },
  };
};

// opened GPIO pins, one direction at a time; PWM and ADC channels
var gpios: { [p: string]: { g: any; m: string } } = {}, pwms: { [p: string]: any } = {}, adcs: { [p: string]: any } = {};

// No `edge`: IoT.js 1.0's Linux gpio (src/modules/linux/iotjs_module_gpio-linux.c, gpio_set_edge) fails
// every input opened with one ("Open error, cannot open GPIO") and leaves its edge thread running on a
// pin that is then freed (a crash). MODE has PULLUP/PULLDOWN on NuttX only; Linux ignores the mode.
function gpio(p: Pin, m: string): any {
  var G = need("gpio"), o = gpios[p];
  if (o && o.m == m) return o.g;
  if (o) o.g.closeSync();
  o = gpios[p] = {
    m: m,
    g: G.openSync({
      pin: +p,
      direction: m == "out" ? G.DIRECTION.OUT : G.DIRECTION.IN,
      mode: m == "up" ? G.MODE.PULLUP : m == "down" ? G.MODE.PULLDOWN : G.MODE.NONE,
    }),
  };
  return o.g;
}

function level(p: Pin): boolean {
  var o = gpios[p];
  return !!(o ? o.g : gpio(p, "in")).readSync();
}

var pins: Pins = {
  mode: function (p, m) { gpio(p, m); },
  write: function (p, v) { gpio(p, "out").writeSync(v); },
  read: level,
  // on Linux the pin is the sysfs device path of the channel, on NuttX its number
  analog: function (p) {
    var a = adcs[p] || (adcs[p] = need("adc").openSync(typeof p == "string" ? { device: p } : { pin: p }));
    return a.readSync() / ADC_MAX;
  },
  pwm: function (p, d, f) {
    var w = pwms[p];
    if (!w) {
      w = pwms[p] = need("pwm").openSync({ pin: +p, period: 1 / (f || 1000), dutyCycle: d });
      w.setEnableSync(true);
    } else if (f) w.setFrequencySync(f);
    w.setDutyCycleSync(d);
  },
  // IoT.js 1.0 has no GPIO change event (its pin objects have no on(), and inputs with an edge do not
  // open): the level is polled every 20 ms and a change reported once stable for `ms` (Espruino's debounce)
  watch: function (p, fn, ms) {
    var last = level(p), v = last, at = 0;
    return setInterval(function () {
      var x: boolean, n = Date.now();
      try { x = level(p); } catch (e) { return; }
      if (x != v) { v = x; at = n; }
      if (v != last && n - at >= ms) fn(last = v);
    }, 20);
  },
  unwatch: function (h) { clearInterval(h); },
};

var ls: Array<() => void> = [];
var net: Network = {
  start: function () { for (var i = 0; i < ls.length; i++) ls[i](); },
  up: function () { return true; },
  on: function (e, fn) { if (e == "up") ls.push(fn); },
};

// a small JSON file in the working directory keeps the store (and a made id) across restarts
var FILE = "mqtt-mcu-store.json", data: { [k: string]: string } | null = null;
function load(): { [k: string]: string } {
  if (!data) {
    data = {};
    try { data = JSON.parse(str(need("fs").readFileSync(FILE))); } catch (e) {}
  }
  return data!;
}

var t0 = Date.now(), id = "";
function devId(): string {
  var i: number;
  if (id) return id;
  id = sysMac(str);
  if (!id) {
    id = board.store.get("id") || "";
    if (!id) {
      for (i = 0; i < 3; i++) id += ("0000" + Math.floor(Math.random() * 0x10000).toString(16)).substr(-4);
      board.store.set("id", id);
    }
  }
  return id;
}

export const board: Board = {
  name: "iotjs",
  id: devId,
  net: net,
  tcp: tcp,
  clock: timers,
  pins: pins,
  store: {
    get: function (k) { var v = load()[k]; return v == null ? undefined : v; },
    set: function (k, v) {
      var d = load();
      if (d[k] === v) return;
      d[k] = v;
      try { need("fs").writeFileSync(FILE, JSON.stringify(d)); } catch (e) {}
    },
  },
  diag: {
    // IoT.js 1.0 gives JavaScript no memory figure (no process.memoryUsage; the JerryScript heap, a fixed
    // 256 KB by default, is only measured in C), and the OS's free memory says nothing about that heap
    mem: function () { return null; },
    rssi: function () { return null; },
    uptime: function () { return (Date.now() - t0) / 1000; },
  },
  reboot: function () { process.exit(1); },
  log: function (m) { console.log(m); },
};

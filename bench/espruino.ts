// The real interpreters' figures (emu/real.ts: Espruino built for Linux, named by environment variables;
// nothing here builds one): memory in blocks and QoS 0 round trips per second of the core bundle, side by
// side with Espruino's own MQTT module (EspruinoDocs modules/MQTT.js, minified here) when
// MQTT_MCU_ESPRUINO_MQTT names its file. Each figure is one fresh interpreter process against a local
// Mosquitto.
//   node <compiled> --out results.json [--quick]
// Without the interpreters the part reports what is missing and measures nothing.
import { readFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { EspruinoBoard, espruinoVersion, interpreters } from "../emu/real";
import { args, emit } from "./lib";
import { benchConfig, buildFirmware, WIFI_STANDIN } from "./firmware";
import { startMosquitto } from "./mosquitto";
import { pretokenise } from "../build/pretokenise.mjs";

const ROOT = process.env.MQTT_MCU_ROOT || process.cwd();
const { out: outFile, quick } = args();

/** Espruino's MQTT module, minified as a user would store it, or null */
function espruinoMqttModule(): string | null {
  const f = process.env.MQTT_MCU_ESPRUINO_MQTT;
  if (!f || !existsSync(f)) return null;
  return esbuild.transformSync(readFileSync(f, "utf8"), { minify: true, target: "es5" }).code;
}

// The drivers run from Storage (.bootcde), as a saved board runs its code. `M` is the module under test;
// the two modules' APIs differ only in how a client is made and which events say "connected".
function clientCode(which: "ours" | "theirs", port: number, id: string): string {
  return which == "ours"
    ? `var M = require("mqtt-mcu");\nr.require = m() - m0;\nvar c = M.createClient({ host: "127.0.0.1", port: ${port}, clientId: "${id}", keepalive: 60 }), CONNECTED = "connect";`
    : `var M = require("MQTT");\nr.require = m() - m0;\nvar c = M.create("127.0.0.1", { port: ${port}, client_id: "${id}", keep_alive: 60 }), CONNECTED = "connected";`;
}

/** memory in blocks above the interpreter's own at start: after require, after createClient, once
 *  connected and subscribed; then after a warm-up (50 QoS 0 and 50 QoS 1 round trips: publish -> receive
 *  of its own message; what is made once, at the first of each), and after `n` more of each (growth).
 *  Each figure is taken when nothing is under way (from a timer), so it counts what stays. */
function memoryDriver(which: "ours" | "theirs", port: number, n: number): string {
  // (the driver's own variables are made before the first reading)
  return `var m = function () { return process.memory().usage; }, r = { require: 0, created: 0, connected: 0, subscribed: 0, warm: 0, after: 0, growth: 0 };
var T = "bench/mem/${which}", k = 0, q = 0, phase = 0, N = [50, 50, ${n}, ${n}], m0 = m();
${clientCode(which, port, "mem-" + which)}
r.created = m() - m0;
function next() { c.publish(T, "hello world 1234", { qos: q }); }
c.on("message", function () {
  if (++k < N[phase]) return next();
  setTimeout(function () {
    if (phase == 1) r.warm = m() - m0;
    if (++phase == 4) { r.after = m() - m0; r.growth = r.after - r.warm; return print("@@R " + JSON.stringify(r)); }
    q = phase & 1; k = 0; next();
  }, 200);
});
c.on(CONNECTED, function () {
  setTimeout(function () { r.connected = m() - m0; c.subscribe(T, { qos: 1 }); }, 200);
  setTimeout(function () { r.subscribed = m() - m0; next(); }, 500);
});
c.on("error", function (e) { print("@@E " + (e.code ? e.code + " " + e.message : e)); });
c.connect();
`;
}

/** QoS 0 publish -> receive round trips per second, best of `rounds` rounds of `n` */
function speedDriver(which: "ours" | "theirs", port: number, n: number, rounds: number): string {
  return `var m = function () { return process.memory().usage; }, m0 = m(), r = {};
var T = "bench/speed/${which}", k = 0, t0, round = 0, best = 0, all = [];
${clientCode(which, port, "speed-" + which)}
function go() { k = 0; t0 = getTime(); c.publish(T, "hello world 1234"); }
c.on("message", function () {
  if (++k < ${n}) return c.publish(T, "hello world 1234");
  var r = ${n} / (getTime() - t0);
  all.push(Math.round(r));
  if (r > best) best = r;
  if (++round < ${rounds}) setTimeout(go, 20); else print("@@R " + JSON.stringify({ best: Math.round(best), rounds: all }));
});
c.on(CONNECTED, function () { c.subscribe(T); setTimeout(go, 300); });
c.on("error", function (e) { print("@@E " + (e.code ? e.code + " " + e.message : e)); });
c.connect();
`;
}

/** Run `driver` with `module` saved under `name`: from Storage (flash), or (ram) its text loaded into
 *  RAM first, as code sent from the IDE is. Returns the driver's result object. */
async function runDriver(exe: string, name: string, module: string, driver: string, ram: boolean, timeoutMs = 120000): Promise<any> {
  const files: Record<string, string> = { ".bootcde": (ram ? `Modules.addCached(${JSON.stringify(name)}, require("Storage").read("src") + "");\n` : "") + driver };
  files[ram ? "src" : name] = module;
  const b = EspruinoBoard.start(exe, files, { control: false });
  try {
    const l = await b.waitLine((x) => /^@@R |OUT OF MEMORY|^Uncaught/.test(x), timeoutMs);
    if (!/^@@R /.test(l)) return { error: l, problems: b.problems(), errors: b.lines.filter((x) => /^@@E/.test(x)) };
    return JSON.parse(l.substr(4));
  } catch (e) {
    return { error: String((e as Error).message).split("\n")[0], problems: b.problems(), errors: b.lines.filter((x) => /^@@E/.test(x)) };
  } finally {
    await b.stop();
  }
}

// ---- instructions per round trip (deterministic) --------------------------------------------------

/** A stand-in for Espruino's `net`, in the interpreter: it answers CONNECT and SUBSCRIBE from a timer and
 *  hands each PUBLISH back to the socket's data listener at once (no timer and no idle loop between
 *  messages, so the count does not depend on the machine's load). */
const LOOPBACK_NET = `exports.connect = function (o, cb) {
  var s = {};
  s.on = function (ev, fn) { s["L" + ev] = fn; };
  s.end = function () {};
  s.write = function (d) {
    var t = d.charCodeAt(0) >> 4, r;
    if (t == 3) return s.Ldata.call(s, d);
    if (t == 1) r = "\\x20\\x02\\x00\\x00";
    else if (t == 8) r = "\\x90\\x03" + d.substr(2, 2) + "\\x00";
    else return;
    setTimeout(function () { s.Ldata.call(s, r); }, 0);
  };
  setTimeout(function () { cb.call(s, s); }, 0);
  return s;
};`;

/** Instructions of the interpreter process (valgrind --tool=cachegrind, deterministic) for a QoS 0
 *  publish and the delivery of the same message back, per message: (count with n2 - count with n1) /
 *  (n2 - n1), the module loaded into RAM (Modules.addCached) on the growable build. null without valgrind. */
function instructionsPerMessage(exe: string, which: "ours" | "theirs", module: string, n1: number, n2: number): number | null {
  const count = (n: number) => {
    const script = `Modules.addCached("net", ${JSON.stringify(LOOPBACK_NET)});
Modules.addCached("M", ${JSON.stringify(module)});
${which == "ours" ? `var c = require("M").createClient({ host: "h", port: 1, clientId: "x", keepalive: 0 }), CONNECTED = "connect";`
    : `var c = require("M").create("h", { port: 1, client_id: "x", keep_alive: 0 }), CONNECTED = "connected";`}
var k = 0;
c.on("message", function () { k++; });
c.on(CONNECTED, function () { c.subscribe("bench/x"); setTimeout(function () {
  for (var i = 0; i < ${n}; i++) c.publish("bench/x", "hello world 1234");
  setTimeout(function () { print("@@DONE " + k); quit(); }, 0); }, 10); });
c.connect();
`;
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-cg-")), file = join(dir, "loop.js");
    try {
      writeFileSync(file, script);
      const r = spawnSync("valgrind", ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", exe, file], { encoding: "latin1", timeout: 600000 });
      const out = (r.stdout || "") + (r.stderr || ""), done = /@@DONE (\d+)/.exec(out), ir = /I\s+refs:\s+([\d,]+)/.exec(out);
      if (!done || +done[1] != n || !ir) throw new Error(`${which}: ${n} round trips not counted (${out.split("\n").filter((l) => /rror|@@/.test(l)).slice(0, 3).join(" | ")})`);
      return +ir[1].replace(/,/g, "");
    } finally { rmSync(dir, { recursive: true, force: true }); }
  };
  if (spawnSync("valgrind", ["--version"]).status !== 0) return null;
  return Math.round((count(n2) - count(n1)) / (n2 - n1));
}

async function measureCore(core: string, theirs: string | null, o: { quick?: boolean; port: number }) {
  const n = o.quick ? 200 : 1000, sn = o.quick ? 200 : 500, rounds = o.quick ? 3 : 5;
  const res: any = { interpreters: {}, memory: {}, speed: {}, n };
  const mods: Array<["ours" | "theirs", string, string]> = [["ours", "mqtt-mcu", core]];
  if (theirs) mods.push(["theirs", "MQTT", theirs]);
  if (interpreters.espruino1600) {
    res.interpreters.espruino1600 = espruinoVersion(interpreters.espruino1600);
    for (const [w, name, code] of mods) {
      res.memory[w] = await runDriver(interpreters.espruino1600, name, code, memoryDriver(w, o.port, n), false);
      res.speed[w + "Flash1600"] = await runDriver(interpreters.espruino1600, name, code, speedDriver(w, o.port, sn, rounds), false);
    }
  }
  if (interpreters.espruino) {
    res.interpreters.espruino = espruinoVersion(interpreters.espruino);
    for (const [w, name, code] of mods) res.speed[w + "RamGrowable"] = await runDriver(interpreters.espruino, name, code, speedDriver(w, o.port, sn, rounds), true);
    res.instructions = {};
    try {
      for (const [w, , code] of mods) res.instructions[w] = instructionsPerMessage(interpreters.espruino, w, code, 200, o.quick ? 400 : 1000);
    } catch (e) { res.instructions.error = String((e as Error).message); }
  }
  return res;
}

// ---- the firmware ----------------------------------------------------------------------------------

/** An MQTT peer watching the firmware's topics. */
async function watcher(port: number, id: string) {
  const mqtt = (await import("mqtt")).default;
  const got: { topic: string; text: string }[] = [];
  const c = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 200 });
  c.on("message", (topic, p) => got.push({ topic, text: p.toString() }));
  await c.subscribeAsync([`mcu/${id}/#`, `homeassistant/+/${id}/+/config`]);
  const count = (re: RegExp) => got.filter((m) => re.test(m.topic)).length;
  async function until(pred: () => boolean, ms: number, what: string) {
    const end = Date.now() + ms;
    while (!pred()) { if (Date.now() > end) throw new Error(`${what} not seen within ${ms} ms (got ${got.length} messages)`); await new Promise((r) => setTimeout(r, 50)); }
  }
  return { c, got, count, until };
}

/**
 * The firmware on the 1,600-block interpreter, from Storage (.bootcde) and with nothing of the harness
 * on the board: the blocks in use are read from the firmware's own telemetry (`mem`, free bytes, taken
 * while it makes the message). Steady state: the highest of 5 telemetry messages after a warm-up (the
 * announce, 10 commands); growth: the same over the last 5 after `cycles` telemetry cycles and `cmds`
 * commands; and (`outage` s > 0) the highest while the broker is unreachable for that long (read from
 * the first telemetry messages after it is back, which the device kept queued), then after it is back.
 */
async function measureFirmware(exe: string, code: string, broker: any, id: string, o: { cycles: number; cmds: number; outage: number; wifi?: boolean }) {
  const w = await watcher(broker.port, id), r: any = {};
  const files: Record<string, string> = { ".bootcde": pretokenise(code) }; // as `npm run flash -- --save` stores it
  if (o.wifi) files.Wifi = WIFI_STANDIN;
  const b = EspruinoBoard.start(exe, files, { control: false });
  const used = () => w.got.filter((m) => /\/telemetry$/.test(m.topic)).map((m) => 1600 - Math.round(JSON.parse(m.text).mem / 12)); // the 1,600-block build
  const tele = () => w.count(/\/telemetry$/);
  const cmds = async (n: number) => {
    const s0 = w.count(/\/state\/relay$/);
    for (let i = 0; i < n; i++) {
      await w.c.publishAsync(`mcu/${id}/cmd/relay`, i & 1 ? "OFF" : "ON");
      if (i % 20 == 19) await w.until(() => w.count(/\/state\/relay$/) >= s0 + i + 1, 10000, "command echoes");
    }
    await w.until(() => w.count(/\/state\/relay$/) >= s0 + n, 20000, "command echoes");
  };
  const five = async () => { const n = tele(); await w.until(() => tele() >= n + 5, 15000, "5 telemetry messages"); return Math.max(...used().slice(n, n + 5)); };
  try {
    await w.until(() => tele() >= 1, 30000, "the first telemetry");
    r.announced = { status: w.count(/\/status$/), states: w.count(/\/state\//), discovery: w.count(/^homeassistant\//) };
    await cmds(10);
    r.steady = await five();
    const t0 = tele();
    await cmds(o.cmds);
    await w.until(() => tele() >= t0 + o.cycles, o.cycles * 1500 + 10000, o.cycles + " telemetry cycles");
    r.cycles = tele() - t0;
    r.commands = o.cmds;
    r.after = await five();
    r.growth = r.after - r.steady;
    if (o.outage > 0) {
      // (Mosquitto publishes the will, "offline", as it shuts down: count "online" only)
      const online = () => w.got.filter((m) => /\/status$/.test(m.topic) && m.text == "online").length;
      const n = online(), t1 = tele();
      await broker.down();
      await new Promise((z) => setTimeout(z, o.outage * 1000));
      await broker.up();
      // the reconnect backoff is up to 60 s (+ jitter) after a long outage
      await w.until(() => online() > n, 120000, "online after the outage");
      // what it queued while the broker was away comes first: its mem figures are the outage's
      await w.until(() => tele() > t1 + 1, 20000, "telemetry after the outage");
      await new Promise((z) => setTimeout(z, 2000));
      r.outagePeak = Math.max(...used().slice(t1));
      r.afterOutage = await five();
    }
  } catch (e) {
    r.error = String((e as Error).message).split("\n")[0];
    r.last = b.lines.slice(-5);
  } finally {
    r.problems = b.problems().slice(0, 5);
    await b.stop();
    await w.c.endAsync(true);
  }
  return r;
}

/** The bench config on the 1,600-block build: the espruino-linux bundle through cycles, commands and
 *  (when the broker can be stopped) an outage; the esp8266 bundle (with the Wifi stand-in) steady. */
async function measureFirmwares(exe: string, broker: any) {
  const out: any = { config: "1 digital sensor (door), 2 digital actuators (relay, light), Home Assistant with diagnostics, telemetry every 1 s" };
  const canStop = typeof broker.down == "function";
  const runs: Array<[string, any]> = [
    ["espruino-linux", { cycles: quick ? 5 : 20, cmds: quick ? 20 : 100, outage: canStop && !quick ? 40 : 0 }],
    ["esp8266", { cycles: 2, cmds: 10, outage: 0, wifi: true }],
  ];
  for (const [board, o] of runs) {
    const id = "bench" + board.replace(/\W/g, "") + process.pid;
    const code = await buildFirmware(board, benchConfig(id, broker.port, o.wifi ? { wifi: { ssid: "bench" } } : {}), o.wifi ? { wifi: { password: "bench" } } : {});
    out[board] = { bytes: pretokenise(code).length, outage: o.outage, ...(await measureFirmware(exe, code, broker, id, o)) };
  }
  return out;
}

if (outFile) {
  const res: any = { missing: [] as string[] };
  if (!interpreters.espruino) res.missing.push("MQTT_MCU_ESPRUINO (Espruino for Linux, growable)");
  if (!interpreters.espruino1600) res.missing.push("MQTT_MCU_ESPRUINO_1600 (Espruino for Linux, 32-bit, 1,600 variables)");
  const theirs = espruinoMqttModule();
  if (!theirs) res.missing.push("MQTT_MCU_ESPRUINO_MQTT (EspruinoDocs modules/MQTT.js, for the side-by-side figures)");
  if (interpreters.espruino || interpreters.espruino1600) {
    const broker = await startMosquitto();
    try {
      res.core = await measureCore(readFileSync(`${ROOT}/dist/mqtt-mcu.core.js`, "latin1"), theirs, { quick, port: broker.port });
      if (interpreters.espruino1600) res.firmware = await measureFirmwares(interpreters.espruino1600, broker);
    } finally {
      await broker.stop();
    }
  }
  emit(outFile, res);
}

// The real interpreters' figures (emu/real.ts: Espruino built for Linux, named by environment variables;
// nothing here builds one): memory in blocks and QoS 0 round trips per second of the core bundle, side by
// side with Espruino's own MQTT module (EspruinoDocs modules/MQTT.js, minified here) when
// MQTT_MCU_ESPRUINO_MQTT names its file. Each figure is one fresh interpreter process against a local
// Mosquitto.
//   node <compiled> --out results.json [--quick]
// Without the interpreters the part reports what is missing and measures nothing.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import * as esbuild from "esbuild";
import { EspruinoBoard, espruinoVersion, interpreters } from "../emu/real";
import { startMosquitto } from "./mosquitto";

const ROOT = process.env.MQTT_MCU_ROOT || process.cwd();
const args = process.argv.slice(2);
const outFile = args[args.indexOf("--out") + 1];
const quick = args.includes("--quick");

/** Espruino's MQTT module, minified as a user would store it, or null */
export function espruinoMqttModule(): string | null {
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

/** memory in blocks above the interpreter's own at start: after require, once connected and subscribed,
 *  then after `n` QoS 0 and `n` QoS 1 round trips (publish -> receive of its own message). Each figure is
 *  taken when nothing is under way (from a timer), so it counts what stays. */
function memoryDriver(which: "ours" | "theirs", port: number, n: number): string {
  return `var m = function () { return process.memory().usage; }, m0 = m(), r = {};
var T = "bench/mem/${which}", k = 0, q = 0;
${clientCode(which, port, "mem-" + which)}
r.created = m() - m0;
function next() { c.publish(T, "hello world 1234", { qos: q }); }
c.on("message", function () {
  if (++k < ${n}) return next();
  setTimeout(function () {
    if (!q) { r.afterQos0 = m() - m0; q = 1; k = 0; return next(); }
    r.afterQos1 = m() - m0;
    print("@@R " + JSON.stringify(r));
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
export async function runDriver(exe: string, name: string, module: string, driver: string, ram: boolean, timeoutMs = 120000): Promise<any> {
  const files: Record<string, string> = { ".bootcde": (ram ? `Modules.addCached(${JSON.stringify(name)}, require("Storage").read("src") + "");\n` : "") + driver };
  files[ram ? "src" : name] = module;
  const b = EspruinoBoard.start(exe, files);
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

export async function measureCore(core: string, theirs: string | null, o: { quick?: boolean; port: number }) {
  const res: any = { interpreters: {}, memory: {}, speed: {} };
  const n = o.quick ? 200 : 1000, sn = o.quick ? 200 : 500, rounds = o.quick ? 2 : 3;
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
  }
  return res;
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
    } finally {
      await broker.stop();
    }
  }
  writeFileSync(outFile, JSON.stringify(res, null, 1));
}

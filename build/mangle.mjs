// Property names the bundles shorten (esbuild's mangleProps). The source keeps names that say what they
// hold; the stored bundle pays for every letter of every `.name` (Storage of a 1 MB ESP8266 is 16 KB), and
// a property name over 4 characters costs the device a block of RAM per object that has it.
// Only names that live on our own objects are listed: a listed name is renamed wherever it appears in the
// bundle, so it must never be read from or given to an engine's object (`console.log`, a socket's `write`,
// `Math.round`, Wifi's `password`...), nor be a key of JSON the device sends or keeps (telemetry's `uptime`,
// a report's `payload`, the discovery's `name`). checkNames refuses the names the engines' objects have.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..");

/** Inside the core, every bundle: the client's own methods and the fields of the packets it keeps to
 *  itself (the public API, the options and the packets an application sees keep their names). */
export const CORE = ["post", "pkt", "ctl", "tell", "put", "flush", "lost", "arm", "more", "subs", "topics", "granted",
  // the client's state and its link's (short already, for RAM; the most used get one letter)
  "lk", "ev", "li", "lo", "pg", "sb", "qb", "tm", "tw", "ka", "ak", "ua", "vt", "tp", "op", "cb", "rel", "tb",
  // the decoder's
  "ds", "df", "dl", "dc", "dn", "db", "dz", "dp", "de", "di", "dm", "dk"];

/** In the firmware only, where no application code uses the client: its public API and options, the
 *  packet fields it hands to applications, and the firmware's own objects and config keys. */
export const FIRMWARE = [
  // the client's API and options
  "connected", "publish", "subscribe", "unsubscribe", "returnCode", "sessionPresent", "dropped", "keepalive",
  "clientId", "username", "clean", "will", "maxInflight", "maxMessages", "maxBytes", "maxPacketSize",
  "connectTimeout", "transport", "clock", "setTimer", "clearTimer", "queue", "stable", "dup",
  // the firmware, its board and its config
  "actuators", "client", "sensors", "settle", "report", "online", "entity", "entities", "deadband", "invert",
  "poll", "base", "pins", "diag", "got", "msg", "echo", "pull", "scale", "offset", "prefix", "broker",
  "wifi", "tcp", "init",
];

/** Names the engines' own objects have, as far as we can tell here: the members of JavaScript's built-in
 *  objects, and the members declared in @types/espruino. */
function engineNames() {
  const names = new Set();
  for (const o of [Object, Function, Array, String, Number, Boolean, RegExp, Date, Math, JSON, Error, Promise, Uint8Array])
    for (let p = o; p; p = Object.getPrototypeOf(p)) {
      for (const k of Object.getOwnPropertyNames(p)) names.add(k);
      if (p.prototype) for (const k of Object.getOwnPropertyNames(p.prototype)) names.add(k);
    }
  const dts = readFileSync(createRequire(join(ROOT, "package.json")).resolve("@types/espruino/index.d.ts"), "utf8");
  for (const m of dts.replace(/\/\*[\s\S]*?\*\//g, "").matchAll(/^\s*(?:static\s+|readonly\s+|function\s+|var\s+|let\s+|const\s+)*([A-Za-z_$][\w$]*)\??\s*[(:<]/gm)) names.add(m[1]);
  // what our boards call on the engines' objects and are not declared there (sockets, Wifi, Node)
  for (const k of "on emit end close write connect data open error destroy setEncoding send read watch now log round ip mac rssi ssid password".split(" ")) names.add(k);
  return names;
}

/** The listed names an engine's object also has (none, or the build stops). */
export function checkNames(list) {
  const e = engineNames();
  return list.filter((n) => e.has(n));
}

/** esbuild's mangleProps for a bundle: the core's names, and the firmware's in a firmware build. */
export function manglePattern(firmware) {
  const list = firmware ? CORE.concat(FIRMWARE) : CORE;
  const bad = checkNames(list);
  if (bad.length) throw new Error("build/mangle.mjs lists names the engines' objects have: " + bad.join(", "));
  return new RegExp("^(" + list.join("|") + ")$");
}

/** `v` (the config compiled into a firmware build) with its keys renamed as the code's (esbuild's
 *  mangleCache of the bundle: name -> short name), at every depth. */
export function renameKeys(v, cache) {
  if (Array.isArray(v)) return v.map((x) => renameKeys(x, cache));
  if (!v || typeof v != "object") return v;
  const o = {};
  for (const k of Object.keys(v)) o[typeof cache[k] == "string" ? cache[k] : k] = renameKeys(v[k], cache);
  return o;
}

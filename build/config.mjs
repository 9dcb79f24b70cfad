// The device config, checked at build time: device.json (what the device is) + secrets.json (WiFi and
// MQTT passwords, TLS keys; git-ignored) -> one validated object with every default filled in, compiled
// into the bundle as __CONFIG__ (src/app/config.ts describes it). Every mistake fails the build with a
// message naming the key: unknown keys, missing required fields, wrong types, pins the board does not
// have, duplicate names, features the board lacks. Secret values never appear in a message.
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const EXAMPLE = join(ROOT, "examples/device.json");
export const EXAMPLE_SECRETS = join(ROOT, "examples/secrets.example.json");

/** What each board offers the firmware besides pins (boards/pins.json has those). `wifi`: the firmware
 *  joins the network itself (elsewhere the OS does, and the wifi section is not compiled in). `der`: TLS
 *  material is compiled in as DER bytes (a binary string), not PEM: Espruino's mbedtls is built without
 *  a PEM parser and refuses PEM ("mbedtls_x509_crt_parse of 'ca': Invalid format"). */
const BOARDS = {
  esp8266: { wifi: true, espruino: true, tls: false, temperature: false, onewire: true, dht: true, sleep: 4294, ota: "sha1" },
  esp32: { wifi: true, espruino: true, tls: true, der: true, temperature: true, onewire: true, dht: true, sleep: 2147, ota: "sha256" },
  "espruino-linux": { espruino: true, tls: true, der: true, temperature: false, onewire: true, dht: true, sleep: 86400, ota: "sha256" },
  iotjs: { tls: false, temperature: false, onewire: false, dht: false },
  host: { tls: true, temperature: true, onewire: false, dht: false, sleep: 86400 },
};
/** `sleep` above: the longest deep sleep in seconds (esp8266: ESP8266.deepSleep takes a uint32 of
 *  microseconds, 71 min; esp32: ESP32.deepSleep takes an int, 35 min; Linux and host: an emulated sleep).
 *  A board without it has no deep sleep: a config with "sleep" fails its build.
 *  `ota`: updates over MQTT (Espruino's Storage and boot selector), with the hash the board's crypto
 *  module has for the tag (HMAC): SHA-256, or SHA-1 on the ESP8266 (whose digest is then E.CRC32);
 *  the device finds out at run time (some builds have no crypto at all). */
/** battery mode: readings kept in Storage while the broker cannot be reached (one small file each) */
export const SLEEP_KEEP = 16;

/**
 * Built-in sensor types: the keys each one takes besides the common ones, what it needs from the board,
 * and its Home Assistant defaults. A custom driver (src/app/sensors.ts DRIVERS) adds its entry here.
 */
export const SENSOR_TYPES = {
  analog: { keys: { pin: "pin", scale: "number", offset: "number" }, pin: "analog" },
  digital: { keys: { pin: "pin", debounce: "number", invert: "boolean", pull: ["up", "down"] }, pin: "watch", binary: true },
  temperature: { keys: {}, needs: "temperature", unit: "°C", device_class: "temperature" },
  ds18b20: { keys: { pin: "pin", index: "integer" }, pin: "output", needs: "onewire", unit: "°C", device_class: "temperature", shared: true },
  dht22: { keys: { pin: "pin", value: ["temperature", "humidity"] }, pin: "output+watch", needs: "dht", shared: true },
};
const BUILTIN = ["analog", "digital", "temperature", "ds18b20", "dht22"];
const SENSOR_COMMON = { name: "name", type: "string", label: "string", icon: "string", unit: "string", device_class: "slug",
  state_class: ["measurement", "total", "total_increasing"], deadband: "number", precision: "integer" };
const ACTUATOR_KEYS = {
  digital: { name: "name", type: "string", pin: "pin", label: "string", icon: "string", device_class: ["outlet", "switch"], invert: "boolean", init: "boolean", component: ["switch", "light"] },
  pwm: { name: "name", type: "string", pin: "pin", label: "string", icon: "string", invert: "boolean", init: "number", max: [1, 100], freq: "number", component: ["light", "number"] },
};
const TOP = { id: "id", name: "string", wifi: "object", broker: "object", base: "topic", interval: "number", poll: "number",
  restore: ["retained", "storage", "none"], homeassistant: "ha", sensors: "array", actuators: "array", sleep: "number", awake_max: "number", ota: "ota" };
const BROKER = { host: "string", hosts: "array", port: "integer", tls: "boolean", websocket: "string", username: "string", keepalive: "integer", queue: "object" };
const SECRETS = { wifi: { password: 1 }, broker: { password: 1, ca: 1, cert: 1, key: 1 }, ota: { key: 1 } };
/** a pin of null for the board being built: the sensor/actuator is left out of that build */
const SKIP = {};
/** telemetry keys the firmware adds itself */
const DIAG = ["uptime", "mem", "rssi", "reconnects"];
/** updates: the seconds a new image has to come online and confirm (the boot selector's default) */
export const OTA_DEADLINE = 60;

export class ConfigError extends Error {
  constructor(errors, file) {
    super((file ? file + ": " : "") + "invalid config:\n  " + errors.join("\n  "));
    this.errors = errors;
  }
}

/** A board's entry of boards/pins.json: { digital, output, analog, pwm, watch, reserved, any, analogAny }
 *  (null when the board is not listed: every pin is accepted). */
export function boardPins(board) {
  const f = join(ROOT, "boards/pins.json");
  return existsSync(f) && JSON.parse(readFileSync(f, "utf8"))[board] || null;
}

/** The PEM blocks of `text`: [{ type: "CERTIFICATE", der: Buffer, encrypted }] */
function pemBlocks(text) {
  const r = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)) {
    const body = m[2].replace(/^[A-Za-z-]+:.*$/gm, ""); // RFC 1421 headers (Proc-Type, DEK-Info) are not base64
    r.push({ type: m[1], der: Buffer.from(body.replace(/\s+/g, ""), "base64"), encrypted: /ENCRYPTED/.test(m[1] + m[2]) });
  }
  return r;
}

function titled(name) { return name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " "); }

/**
 * Validate a parsed device.json (+ parsed secrets.json) for a board. Returns the config the firmware
 * runs with (src/app/config.ts); throws a ConfigError listing every problem, each naming its key.
 */
export function validateConfig(cfg, board = "host", secrets = {}, version = "0") {
  const errs = [], warns = [], caps = BOARDS[board] || { wifi: true, tls: true, temperature: true, onewire: true, dht: true, sleep: 86400 };
  const pins = boardPins(board), names = {}, usedPins = {};
  const bad = (key, msg) => { errs.push(key + ": " + msg); };
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  // one value against a type: a JS type name, a list of allowed values, or one of ours
  function check(key, v, t) {
    if (Array.isArray(t)) return t.includes(v) ? v : bad(key, `must be one of ${t.map((x) => JSON.stringify(x)).join(", ")}, not ${JSON.stringify(v)}`);
    switch (t) {
      case "string": return typeof v === "string" && v ? v : bad(key, "must be a non-empty string");
      case "number": return typeof v === "number" && isFinite(v) ? v : bad(key, "must be a number");
      case "integer": return Number.isInteger(v) && v >= 0 ? v : bad(key, "must be a whole number >= 0");
      case "boolean": return typeof v === "boolean" ? v : bad(key, "must be true or false");
      case "object": return isObj(v) ? v : bad(key, "must be an object");
      case "array": return Array.isArray(v) ? v : bad(key, "must be an array");
      case "slug": return typeof v === "string" && /^[a-z0-9_]+$/.test(v) ? v : bad(key, "must be lowercase letters, digits and _");
      case "name": return typeof v === "string" && /^[a-z_][a-z0-9_]{0,19}$/.test(v) ? v
        : bad(key, `${JSON.stringify(v)} is not a valid name: 1-20 of a-z, 0-9, _, not starting with a digit`);
      case "id": return typeof v === "string" && /^[A-Za-z0-9_-]{1,32}$/.test(v) ? v : bad(key, "must be 1-32 of A-Z a-z 0-9 _ - (it is a topic level and a Home Assistant id)");
      case "topic": return typeof v === "string" && /^[^#+\/\u0000]+(\/[^#+\/\u0000]+)*$/.test(v) ? v : bad(key, "must be a topic without wildcards or empty levels, like \"mcu\" or \"home/devices\"");
      case "pin": {
        // one pin, or one per board: { "esp8266": "A0", "esp32": "D34", "*": ... } ("*": any other board)
        if (isObj(v)) {
          const p = board in v ? v[board] : v["*"];
          if (p === undefined) return bad(key, `has no entry for board ${board} (nor "*"; null leaves the entry out of that board)`);
          return p === null ? SKIP : check(key + "." + (board in v ? board : "*"), p, "pin");
        }
        return typeof v === "string" && v || Number.isInteger(v) && v >= 0 ? v : bad(key, "must be a pin name (\"D5\"), a number, or an object of them by board");
      }
      case "ha": return typeof v === "boolean" || isObj(v) ? v : bad(key, "must be true, false or { prefix, diagnostics }");
      case "ota": return typeof v === "boolean" || isObj(v) ? v : bad(key, "must be true, false or { deadline }");
    }
    return v;
  }
  // the keys of an object: unknown ones fail ("_..." keys are comments), known ones are checked
  function keys(key, o, spec, required = []) {
    const r = {};
    for (const k in o) {
      if (k.charAt(0) === "_") continue;
      if (!(k in spec)) { bad(key + k, `unknown key (expected one of ${Object.keys(spec).join(", ")})`); continue; }
      r[k] = check(key + k, o[k], spec[k]);
    }
    for (const k of required) if (o[k] == null) bad(key + k, "is required");
    return r;
  }
  // kinds: analog, pwm, output (drives the pin), watch (input with edges); several with "+"
  function pin(key, p, kinds, shareable) {
    if (p == null) return;
    const n = String(p), words = { analog: "analog ", pwm: "PWM ", output: "output ", watch: "input (edge) " };
    if (pins && !pins.any) {
      if (pins.reserved && pins.reserved[n]) bad(key, `pin ${JSON.stringify(p)} is reserved on board ${board} (${pins.reserved[n]})`);
      else for (const k of kinds.split("+")) {
        const list = pins[k] || [];
        if (list.includes(n) || (k === "analog" && pins.analogAny)) continue;
        bad(key, `board ${board} has no ${words[k]}pin ${JSON.stringify(p)}` + (list.length ? ` (${k} pins: ${list.join(", ")})` : ` (it has no ${words[k]}pins)`));
        break;
      }
    }
    const prev = usedPins[n];
    if (prev && !(shareable && prev.type === shareable)) bad(key, `pin ${JSON.stringify(p)} is already used by ${prev.key}`);
    else if (!prev) usedPins[n] = { key, type: shareable };
  }
  function unique(key, n) {
    if (n == null) return;
    if (names[n]) bad(key, `duplicate name ${JSON.stringify(n)} (also ${names[n]})`);
    else if (DIAG.includes(n) || n === "telemetry" || n === "ota") bad(key, `${JSON.stringify(n)} is reserved (the firmware uses it)`);
    names[n] = key;
  }
  function forbidSecret(key, o, k) {
    if (isObj(o) && k in o) { bad(key + k, "is a secret: put it in secrets.json, not in the device config"); delete o[k]; }
  }

  /** a CA, client certificate or key, checked (never echoed); PEM text as given, or for `der` boards the
   *  DER bytes of its one block as a binary string (what Espruino's tls.connect takes) */
  function tlsSecret(key, text, isKey) {
    const l = pemBlocks(text), what = isKey ? "a private key" : "a certificate";
    if (!l.length) return bad(key, `is not PEM text (-----BEGIN ...-----) nor a path to a PEM file`);
    for (const b of l) {
      if (isKey && b.encrypted) return bad(key, "is an encrypted key: the device has no password for it (decrypt it: openssl pkey -in key.pem -out plain.pem)");
      if (isKey ? !/^(RSA |EC )?PRIVATE KEY$/.test(b.type) : b.type !== "CERTIFICATE") return bad(key, `holds a PEM ${b.type}, expected ${what}`);
      try { isKey ? createPrivateKey({ key: b.der, format: "der", type: b.type === "PRIVATE KEY" ? "pkcs8" : b.type === "RSA PRIVATE KEY" ? "pkcs1" : "sec1" }) : new X509Certificate(b.der); }
      catch { return bad(key, `is not ${what} (its PEM does not parse)`); }
    }
    if (!caps.der) return text;
    if (l.length > 1) return bad(key, `holds ${l.length} PEM blocks: board ${board} takes one (Espruino's TLS loads one DER ${isKey ? "key" : "certificate"})`);
    return l[0].der.toString("latin1");
  }

  if (!isObj(cfg)) throw new ConfigError(["(top level): the config must be a JSON object"]);
  cfg = JSON.parse(JSON.stringify(cfg));
  forbidSecret("wifi.", cfg.wifi, "password");
  for (const k of ["password", "ca", "cert", "key"]) forbidSecret("broker.", cfg.broker, k);
  const top = keys("", cfg, TOP, ["broker"]);

  // secrets: only the known keys, never echoed
  const sec = {};
  if (!isObj(secrets)) bad("secrets", "must be a JSON object");
  else for (const g in secrets) {
    if (g.charAt(0) === "_") continue;
    if (!SECRETS[g] || !isObj(secrets[g])) { bad("secrets." + g, `unknown key (expected ${Object.keys(SECRETS).map((x) => x + ": { " + Object.keys(SECRETS[x]).join(", ") + " }").join("; ")})`); continue; }
    sec[g] = {};
    for (const k in secrets[g]) {
      if (k.charAt(0) === "_") continue;
      if (!SECRETS[g][k]) bad(`secrets.${g}.${k}`, `unknown key (expected one of ${Object.keys(SECRETS[g]).join(", ")})`);
      else if (typeof secrets[g][k] !== "string" || !secrets[g][k]) bad(`secrets.${g}.${k}`, "must be a non-empty string");
      else sec[g][k] = secrets[g][k];
    }
  }

  const out = { id: top.id || "", name: top.name || "", sw: version, broker: null, base: top.base || "mcu", interval: 0, poll: 0,
    restore: top.restore || "retained", sensors: [], actuators: [] };

  if (top.wifi) {
    const w = keys("wifi.", top.wifi, { ssid: "string" }, ["ssid"]);
    // one config may serve several boards: checked everywhere, compiled in (password too) only with WiFi
    if (!caps.wifi) warns.push(`wifi: left out (with secrets.wifi.password): board ${board} has no WiFi of its own`);
    else {
      out.wifi = { ssid: w.ssid };
      if (sec.wifi && sec.wifi.password) out.wifi.password = sec.wifi.password;
    }
  } else if (sec.wifi && sec.wifi.password) bad("secrets.wifi.password", "is set but the config has no wifi section");

  if (top.broker) {
    const b = keys("broker.", top.broker, BROKER, top.broker.hosts ? [] : ["host"]), s = sec.broker || {};
    const o = out.broker = { host: b.host, port: b.port || (b.websocket ? (b.tls ? 443 : 80) : b.tls ? 8883 : 1883) };
    if (b.port != null && (b.port < 1 || b.port > 65535)) bad("broker.port", "must be 1..65535");
    // a cluster: "host" or "host:port" each (port: broker.port's), tried in turn (the client's `servers`)
    if (b.hosts) {
      const seen = {}, list = [];
      if (b.host) bad("broker.hosts", "give broker.host or broker.hosts, not both");
      if (!b.hosts.length) bad("broker.hosts", "must list at least one \"host\" or \"host:port\"");
      if (b.hosts.length > 16) bad("broker.hosts", `lists ${b.hosts.length} servers: at most 16 (each costs the device RAM)`);
      b.hosts.forEach((h, i) => {
        const key = `broker.hosts[${i}]`, m = typeof h === "string" && /^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(h);
        if (!m) return bad(key, `${JSON.stringify(h)} is not "host" or "host:port" (a host name or IPv4 address, no scheme like mqtt://)`);
        const port = m[3] == null ? o.port : Number(m[3]);
        if (port < 1 || port > 65535) return bad(key, "port must be 1..65535");
        if (seen[m[1] + ":" + port]) return bad(key, `${h} is listed twice`);
        seen[m[1] + ":" + port] = 1;
        list.push(port === o.port ? { host: m[1] } : { host: m[1], port });
      });
      if (list.length) { o.host = list[0].host; o.servers = list; }
    }
    if (b.tls) {
      if (!caps.tls) bad("broker.tls", `board ${board} has no TLS (use plain MQTT, or an ESP32)`);
      o.tls = {};
      for (const k of ["ca", "cert", "key"]) if (s[k]) o.tls[k] = tlsSecret("secrets.broker." + k, s[k], k === "key");
      if (!!s.cert !== !!s.key) bad("secrets.broker." + (s.cert ? "key" : "cert"), "a client certificate needs both cert and key");
    } else for (const k of ["ca", "cert", "key"]) if (s[k]) bad("secrets.broker." + k, "is set but broker.tls is not true");
    if (b.websocket != null && b.websocket.charAt(0) !== "/") bad("broker.websocket", "must be a path starting with /, like \"/mqtt\"");
    if (b.websocket) o.ws = b.websocket;
    if (b.username) o.username = b.username;
    if (s.password) o.password = s.password;
    if (s.password && !b.username) bad("secrets.broker.password", "is set but broker.username is not");
    if (b.keepalive != null) o.keepalive = b.keepalive; // else the client's default, 60 s
    if (b.keepalive > 65535) bad("broker.keepalive", "must be 0..65535 seconds");
    const q = b.queue ? keys("broker.queue.", b.queue, { maxMessages: "integer", maxBytes: "integer" }) : {};
    o.queue = { maxMessages: q.maxMessages || 10, maxBytes: q.maxBytes || 2048 };
  }

  // sensors
  let deadbands = false;
  (top.sensors || []).forEach((s, i) => {
    const key = `sensors[${i}].`;
    if (!isObj(s)) return bad(`sensors[${i}]`, "must be an object");
    const T = SENSOR_TYPES[s.type];
    if (s.type == null) bad(key + "type", "is required");
    else if (!T) return bad(key + "type", `unknown sensor type ${JSON.stringify(s.type)} (one of ${Object.keys(SENSOR_TYPES).join(", ")})`);
    const spec = Object.assign({}, SENSOR_COMMON, T ? T.keys : {});
    const v = keys(key, s, spec, ["name", "type"].concat(T && T.keys.pin ? ["pin"] : []));
    if (v.pin === SKIP) return;
    unique(key + "name", v.name);
    if (!T) return;
    if (T.needs && !caps[T.needs]) bad(key + "type", `${s.type} needs ${{ temperature: "an on-chip temperature sensor", onewire: "1-Wire (OneWire)", dht: "Espruino's setWatch pulse timing" }[T.needs]}, which board ${board} does not have`);
    pin(key + "pin", v.pin, T.pin, T.shared ? s.type : null);
    if (v.deadband != null && v.deadband < 0) bad(key + "deadband", "must be >= 0");
    if (v.precision != null && v.precision > 6) bad(key + "precision", "must be 0..6 decimals");
    const o = { name: v.name, type: v.type };
    if (v.pin != null) o.pin = v.pin;
    if (s.type === "analog") { o.scale = v.scale != null ? v.scale : 1; o.offset = v.offset || 0; }
    if (s.type === "digital") { o.debounce = v.debounce != null ? v.debounce : 50; if (v.invert) o.invert = true; if (v.pull) o.pull = v.pull; o.deadband = 0; }
    if (s.type === "ds18b20" && v.index != null) o.index = v.index;
    if (s.type === "dht22" && v.value === "humidity") o.humidity = true;
    // a custom driver gets its own keys as they are
    if (!BUILTIN.includes(s.type)) for (const k in T.keys) if (v[k] !== undefined) o[k] = v[k];
    if (v.deadband != null && !T.binary) { o.deadband = v.deadband; deadbands = true; }
    if (!T.binary) o.round = Math.pow(10, v.precision != null ? v.precision : 2);
    out.sensors.push(o);
    // Home Assistant fields, kept aside until the entities are made
    const hum = s.type === "dht22" && v.value === "humidity";
    o._ha = T.binary ? ["binary_sensor", { pl_on: "True", pl_off: "False", dev_cla: v.device_class }]
      : ["sensor", { unit_of_meas: v.unit || (hum ? "%" : s.type === "dht22" ? "°C" : T.unit), dev_cla: v.device_class || (hum ? "humidity" : s.type === "dht22" ? "temperature" : T.device_class),
        stat_cla: v.state_class || "measurement" }];
    o._ha[1].name = v.label || titled(v.name || "");
    o._ha[1].ic = v.icon;
  });
  // DHT22 sensors sharing a pin must read different values
  const dhtSeen = {};
  out.sensors.forEach((o, i) => {
    if (o.type !== "dht22") return;
    const k = o.pin + (o.humidity ? "h" : "t");
    if (dhtSeen[k]) bad(`sensors[${i}].value`, `the DHT22 on pin ${JSON.stringify(o.pin)} already reports ${o.humidity ? "humidity" : "temperature"} (${dhtSeen[k]})`);
    dhtSeen[k] = `sensors[${i}]`;
  });

  // actuators
  (top.actuators || []).forEach((a, i) => {
    const key = `actuators[${i}].`;
    if (!isObj(a)) return bad(`actuators[${i}]`, "must be an object");
    const spec = ACTUATOR_KEYS[a.type];
    if (a.type == null) return bad(key + "type", "is required"), keys(key, a, ACTUATOR_KEYS.digital, ["name", "pin"]);
    if (!spec) return bad(key + "type", `unknown actuator type ${JSON.stringify(a.type)} (one of ${Object.keys(ACTUATOR_KEYS).join(", ")})`);
    const v = keys(key, a, spec, ["name", "type", "pin"]);
    if (v.pin === SKIP) return;
    unique(key + "name", v.name);
    pin(key + "pin", v.pin, a.type === "pwm" ? "pwm" : "output");
    const pwm = a.type === "pwm", max = v.max || 100;
    if (pwm && v.init != null && (v.init < 0 || v.init > max)) bad(key + "init", `must be 0..${max}`);
    if (pwm && v.freq != null && v.freq <= 0) bad(key + "freq", "must be > 0 Hz");
    const o = { name: v.name, type: a.type, pin: v.pin };
    if (v.init) o.init = pwm ? v.init : 1;
    if (v.invert) o.invert = true;
    if (pwm) { o.max = max; if (v.freq) o.freq = v.freq; }
    out.actuators.push(o);
    const comp = v.component || (pwm ? "light" : "switch"), ha = { name: v.label || titled(v.name || ""), ic: v.icon, dev_cla: v.device_class };
    if (pwm && comp === "light") {
      Object.assign(ha, { stat_val_tpl: "{{'ON' if value|float(0)>0 else 'OFF'}}", bri_cmd_t: "~/cmd/" + v.name, bri_stat_t: "~/state/" + v.name,
        bri_scl: 100, on_cmd_type: "brightness" });
      if (max === 1) Object.assign(ha, { bri_cmd_tpl: "{{value/100}}", bri_val_tpl: "{{(value|float(0)*100)|round}}" });
    }
    if (pwm && comp === "number") Object.assign(ha, { min: 0, max, step: max === 100 ? 1 : 0.01, unit_of_meas: max === 100 ? "%" : undefined });
    o._ha = [comp, ha];
  });

  // battery mode: wake, publish, sleep (README "Battery mode")
  if (top.sleep != null) {
    const awake = top.awake_max != null ? top.awake_max : 10;
    if (!caps.sleep) bad("sleep", `board ${board} has no deep sleep (esp8266, esp32 and espruino-linux have; use one of those or remove "sleep")`);
    else if (top.sleep < 10 || top.sleep > caps.sleep) bad("sleep", `must be 10..${caps.sleep} seconds on board ${board}` + (board === "esp8266" ? " (ESP8266.deepSleep takes at most 2^32 µs)" : board === "esp32" ? " (ESP32.deepSleep takes at most 2^31 µs)" : ""));
    if (top.awake_max != null && (awake < 2 || awake > 120)) bad("awake_max", "must be 2..120 seconds");
    else if (top.sleep >= 10 && awake >= top.sleep) bad("awake_max", `must be less than sleep (${top.sleep} s)`);
    for (const k of ["interval", "poll"]) if (top[k] != null) bad(k, `is not used with sleep: a sleeping device reads every sensor and publishes once per wake (every ${top.sleep} s)`);
    if (top.restore === "retained" && (top.actuators || []).length) bad("restore", "\"retained\" cannot work with sleep: the outputs are driven at boot, before the network is up. Use \"storage\" (the default with sleep) or \"none\"");
    out.actuators.forEach((a, i) => {
      if (a.type === "pwm") bad(`actuators[${i}].type`, `pwm cannot work with sleep: PWM stops while the chip is in deep sleep (use a digital output, or remove "sleep")`);
    });
    if (out.actuators.some((a) => a.type !== "pwm")) warns.push(`sleep: digital outputs are not driven during deep sleep (${board === "esp32" ? "ESP32 pads are released: the pin floats" : board === "esp8266" ? "ESP8266 pins are not held: the level is not guaranteed" : "emulated: the pin keeps its level"}); a relay then follows its driver's pull resistor until the next wake drives the stored state again. See README "Battery mode".`);
    if (board === "esp8266") warns.push("sleep: wire GPIO16 (NodeMCU/Wemos D0) to RST, or the ESP8266 never wakes from deep sleep");
    out.sleep = Math.round(top.sleep * 1000);
    out.awake = Math.round(awake * 1000);
    if (top.restore == null) out.restore = "storage";
  } else if (top.awake_max != null) bad("awake_max", "needs \"sleep\" (it limits the time awake in battery mode)");

  // updates over MQTT (README "Updates over MQTT"): the key from secrets signs every image (HMAC)
  let otaDeadline = 0;
  if (top.ota) {
    const o = isObj(top.ota) ? keys("ota.", top.ota, { deadline: "number" }) : {}, k = sec.ota && sec.ota.key;
    otaDeadline = o.deadline != null ? o.deadline : OTA_DEADLINE;
    if (!caps.ota) bad("ota", `board ${board} cannot be updated over MQTT (esp32, esp8266 and espruino-linux can: Espruino's Storage holds the images)`);
    else if (top.sleep != null) bad("ota", "cannot work with sleep: a sleeping device is awake for seconds, an update takes minutes");
    if (otaDeadline < 10 || otaDeadline > 600) bad("ota.deadline", "must be 10..600 seconds");
    if (!k) bad("secrets.ota.key", "is required with \"ota\": every image is signed with it, and the device takes no other (16..64 characters)");
    else if (k.length < 16 || Buffer.byteLength(k) > 64) bad("secrets.ota.key", "must be 16..64 characters (at most 64 bytes of UTF-8)");
    out.ota = k ? { k: Buffer.from(k, "utf8").toString("latin1") } : {};
  } else if (cfg.ota == null && sec.ota && sec.ota.key) bad("secrets.ota.key", "is set but the config has no \"ota\"");

  // timing: seconds in the file, ms in the firmware (a sleeper: one reading per wake)
  const interval = top.sleep != null ? top.sleep : top.interval != null ? top.interval : 60;
  if (interval < 1) bad("interval", "must be at least 1 second");
  if (top.poll != null && (top.poll < 0.1 || top.poll > interval)) bad("poll", `must be 0.1..interval (${interval}) seconds`);
  out.interval = Math.round(interval * 1000);
  out.poll = Math.round((top.poll != null ? top.poll : deadbands ? Math.min(2, interval) : interval) * 1000);

  // Home Assistant
  const h = top.homeassistant === undefined ? true : top.homeassistant;
  if (h) {
    const o = isObj(h) ? keys("homeassistant.", h, { prefix: "topic", diagnostics: "boolean" }) : {};
    const entities = [];
    const clean = (x) => { for (const k in x) if (x[k] === undefined) delete x[k]; return x; };
    for (const x of out.sensors.concat(out.actuators)) entities.push([x._ha[0], x.name, clean(x._ha[1])]);
    if (o.diagnostics !== false) {
      entities.push(["sensor", "rssi", { name: "RSSI", unit_of_meas: "dBm", dev_cla: "signal_strength", stat_cla: "measurement", ent_cat: "diagnostic" }]);
      // a sleeper's uptime is the time awake in this wake (it starts from 0 at each)
      entities.push(["sensor", "uptime", out.sleep ? { name: "Awake", unit_of_meas: "s", dev_cla: "duration", stat_cla: "measurement", ent_cat: "diagnostic" }
        : { name: "Uptime", unit_of_meas: "s", dev_cla: "duration", stat_cla: "total_increasing", ent_cat: "diagnostic" }]);
    }
    // a sleeper has no availability topic (asleep is not broken): its sensors expire after two missed
    // wakes instead, and its commands go at QoS 1, queued by the broker while it sleeps
    if (out.sleep) for (const e of entities) {
      if (e[0].indexOf("sensor") >= 0) e[2].exp_aft = Math.ceil((3 * out.sleep + out.awake) / 1000);
      else e[2].qos = 1;
    }
    out.ha = { prefix: o.prefix || "homeassistant", entities };
  }
  for (const x of out.sensors.concat(out.actuators)) delete x._ha;

  if (errs.length) throw new ConfigError(errs);
  // not enumerable: never compiled into the bundle
  Object.defineProperty(out, "warnings", { value: warns });
  // the boot selector's deadline (ms) and the hash of the tag: for the flash and update commands
  if (out.ota) Object.defineProperty(out, "otaInfo", { value: { deadline: otaDeadline * 1000, hash: caps.ota, digest: caps.ota === "sha256" ? "sha256" : "crc32", key: sec.ota && sec.ota.key } });
  return out;
}

function readJson(file, what) {
  if (!existsSync(file)) throw new Error(`${what} ${file} not found`);
  try { return JSON.parse(readFileSync(file, "utf8")); } catch (e) {
    // for secrets.json, only the position: the parser quotes the text around it
    throw new Error(`${what} ${file} is not valid JSON` + (what === "secrets" ? "" : ": " + e.message));
  }
}

/** The secrets.json a config reads when none is named: beside it, else in the project root; for the
 *  example config, examples/secrets.example.json. null: none. */
export function secretsFor(cfgFile) {
  cfgFile = resolve(cfgFile);
  for (const f of [join(dirname(cfgFile), "secrets.json"), join(ROOT, "secrets.json")]) if (existsSync(f)) return f;
  return cfgFile === EXAMPLE ? EXAMPLE_SECRETS : null;
}

/**
 * Load and validate: `file` (default examples/device.json) and `secrets` (default: secrets.json beside
 * the config, else in the project root; for the example config, examples/secrets.example.json).
 * TLS values in secrets that are not PEM text are file paths, relative to the secrets file.
 */
export function loadConfig(board, { file, secrets } = {}) {
  const cfgFile = resolve(file || EXAMPLE);
  const secFile = secrets ? resolve(secrets) : secretsFor(cfgFile);
  const cfg = readJson(cfgFile, "config"), sec = secFile ? readJson(secFile, "secrets") : {};
  if (sec && sec.broker && typeof sec.broker === "object") for (const k of ["ca", "cert", "key"]) {
    const v = sec.broker[k];
    if (typeof v === "string" && v && v.indexOf("-----BEGIN") < 0) {
      const p = resolve(dirname(secFile), v);
      if (!existsSync(p)) throw new Error(`secrets.broker.${k}: file ${p} not found (give PEM text or a path to a PEM file)`);
      sec.broker[k] = readFileSync(p, "utf8");
    }
  }
  const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
  try { return validateConfig(cfg, board, sec, version); } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.errors, cfgFile + (secFile ? " + " + secFile : ""));
    throw e;
  }
}

/** esbuild `define` values for a board bundle: the config, and which optional parts it needs. */
export function firmwareDefines(board, opts = {}) {
  const c = loadConfig(board, opts || {}), used = {};
  for (const w of c.warnings) console.warn(`warning (${board}): ${w}`);
  for (const s of c.sensors) used[s.type] = true;
  // what the bundle carries: what the firmware reads, no more (empty id and name mean "the board's id",
  // the version is only for Home Assistant, restore is a define so the unused mode folds away)
  const cfg = Object.assign({}, c);
  if (c.otaInfo) Object.defineProperty(cfg, "otaInfo", { value: c.otaInfo }); // (not compiled in, as in c)
  for (const k of ["id", "name"]) if (!cfg[k]) delete cfg[k];
  if (!cfg.ha && !cfg.ota) delete cfg.sw;
  delete cfg.restore;
  return {
    __CONFIG__: cfg, __RESTORE__: c.restore, __FOREVER__: true,
    __ANALOG__: !!used.analog, __DIGITAL__: !!used.digital, __TEMPERATURE__: !!used.temperature,
    __DS18B20__: !!used.ds18b20, __DHT22__: !!used.dht22, __CUSTOM__: c.sensors.some((s) => !BUILTIN.includes(s.type)),
    // sensors that need a driver object (the rest are read from their config)
    __DRIVERS__: c.sensors.some((s) => !["analog", "digital", "temperature"].includes(s.type)),
    // the client's parts the firmware never uses: QoS 2 (it publishes and subscribes at QoS 0 and 1),
    // per-filter handlers (its commands come through the message event), the API's counters, codes
    // table and byte payloads (it publishes text)
    __QOS2__: false, __HANDLERS__: false, __API__: false,
    // the broker cluster's rotation, only with broker.hosts
    __SERVERS__: !!c.broker.servers,
    // board parts only some configs use
    __PULL__: c.sensors.some((s) => s.pull),
    __PWM__: c.actuators.some((a) => a.type === "pwm"),
    // an Espruino board: what only Node needs is left out (src/net/socket.ts)
    __ESPRUINO__: !!(BOARDS[board] || {}).espruino,
    __HA__: !!c.ha, __OTA__: !!c.ota, __WS__: !!c.broker.ws, __TLS__: !!c.broker.tls, __STORE__: c.restore === "storage" || !!c.sleep,
    // battery mode (left out without "sleep"): the board's longest sleep (ms), how many readings are kept
    // while offline, and a tag of this build's config: the discovery is announced again when it changes
    __SLEEP__: !!c.sleep, __SLEEPMAX__: c.sleep ? (BOARDS[board] || { sleep: 86400 }).sleep * 1000 : 0, __KEEP__: SLEEP_KEEP,
    __TAG__: c.sleep ? createHash("sha1").update(JSON.stringify([c.ha, c.base, c.id, c.name, c.sw, c.sensors, c.actuators, board])).digest("hex").substr(0, 8) : "",
  };
}

// Build-time config validation (build/config.mjs): every mistake fails with a message naming the key,
// defaults are filled in, secrets are merged but never echoed.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { ConfigError, EXAMPLE, firmwareDefines, loadConfig, SENSOR_TYPES, validateConfig } from "../../build/config.mjs";
import { makeTestCerts } from "../helpers/certs";

const ROOT = join(__dirname, "../..");
const base = () => ({ broker: { host: "10.0.0.2" } });
/** the problems validateConfig reports for `cfg` (none: []) */
function problems(cfg: any, board = "esp8266", secrets: any = {}): string[] {
  try { validateConfig(cfg, board, secrets); return []; } catch (e: any) {
    expect(e).toBeInstanceOf(ConfigError);
    return e.errors;
  }
}

describe("config: the example", () => {
  for (const b of ["esp8266", "esp32", "espruino-linux", "iotjs", "host"])
    it(`is valid for ${b}`, () => { expect(() => loadConfig(b, {})).not.toThrow(); });

  it("takes the board's pin from a per-board map, and null leaves the entry out", () => {
    expect(loadConfig("esp32", {}).sensors.find((s: any) => s.name == "light")!.pin).toBe("D34");
    expect(loadConfig("esp8266", {}).sensors.find((s: any) => s.name == "light")!.pin).toBe("A0");
    const linux = loadConfig("espruino-linux", {});
    expect(linux.sensors.map((s: any) => s.name)).toEqual(["door"]);
    expect(linux.actuators.map((s: any) => s.name)).toEqual(["relay"]);
    expect(linux.ha.entities.map((e: any) => e[1])).not.toContain("lamp");
  });

  it("merges the example secrets", () => {
    const c = loadConfig("esp8266", {});
    expect(c.wifi).toEqual({ ssid: "my-wifi", password: "wifi-password-here" });
    expect(c.broker.password).toBe("mqtt-password-here");
  });

  it("compiles the wifi section (and its password) only into boards with WiFi; elsewhere a warning names the key", () => {
    for (const b of ["esp8266", "esp32"]) {
      expect(loadConfig(b, {}).wifi).toEqual({ ssid: "my-wifi", password: "wifi-password-here" });
      expect((loadConfig(b, {}) as any).warnings).toEqual([]);
    }
    for (const b of ["espruino-linux", "iotjs", "host"]) {
      const c = loadConfig(b, {});
      expect(c.wifi).toBeUndefined();
      expect(JSON.stringify(c)).not.toContain("wifi-password-here");
      expect(JSON.stringify(firmwareDefines(b, {}))).not.toContain("wifi-password-here");
      expect((c as any).warnings).toEqual([`wifi: left out (with secrets.wifi.password): board ${b} has no WiFi of its own`]);
    }
    // the section is still checked everywhere (one config serves several boards)
    expect(problems({ ...base(), wifi: { sid: "x" } }, "host")).toEqual(["wifi.sid: unknown key (expected one of ssid)", "wifi.ssid: is required"]);
  });
});

describe("config: defaults", () => {
  it("fills in id, base, interval, restore, Home Assistant, port", () => {
    const c = validateConfig(base(), "esp8266");
    expect(c).toMatchObject({ id: "", base: "mcu", interval: 60000, poll: 60000, restore: "retained", sensors: [], actuators: [] });
    expect(c.broker).toEqual({ host: "10.0.0.2", port: 1883, queue: { maxMessages: 10, maxBytes: 2048 } });
    expect(c.ha.prefix).toBe("homeassistant");
    expect(c.ha.entities.map((e: any) => e[1])).toEqual(["rssi", "uptime"]);
  });

  it("broker.hosts: a cluster, \"host\" or \"host:port\" each (the port defaults like broker.port's), the client's servers", () => {
    const c = validateConfig({ broker: { hosts: ["a.lan", "10.0.0.3:1884", "c.lan"], keepalive: 30 } }, "esp8266");
    expect(c.broker).toEqual({ host: "a.lan", port: 1883, keepalive: 30, servers: [{ host: "a.lan" }, { host: "10.0.0.3", port: 1884 }, { host: "c.lan" }],
      queue: { maxMessages: 10, maxBytes: 2048 } });
    expect(validateConfig({ broker: { hosts: ["a", "b:8883"], tls: true } }, "esp32").broker.servers).toEqual([{ host: "a" }, { host: "b" }]);
    expect(validateConfig({ broker: { hosts: ["a"], port: 1999 } }, "esp8266").broker).toMatchObject({ host: "a", port: 1999, servers: [{ host: "a" }] });
    expect(validateConfig(base(), "esp8266").broker.servers).toBeUndefined(); // one host: no list in the device's RAM
  });

  it("broker.hosts: each problem named", () => {
    expect(problems({ broker: { host: "h", hosts: ["a", "a:1883", "mqtt://b", "c:0", "d:70000", " e", 5, "f:"] } })).toEqual([
      "broker.hosts: give broker.host or broker.hosts, not both",
      "broker.hosts[1]: a:1883 is listed twice",
      expect.stringMatching(/^broker\.hosts\[2\]: "mqtt:\/\/b" is not "host" or "host:port"/),
      "broker.hosts[3]: port must be 1..65535",
      "broker.hosts[4]: port must be 1..65535",
      expect.stringMatching(/^broker\.hosts\[5\]: " e" is not/),
      expect.stringMatching(/^broker\.hosts\[6\]: 5 is not/),
      expect.stringMatching(/^broker\.hosts\[7\]: "f:" is not/),
    ]);
    expect(problems({ broker: { hosts: [] } })).toEqual(['broker.hosts: must list at least one "host" or "host:port"']);
    expect(problems({ broker: { hosts: "a,b" } })).toEqual(["broker.hosts: must be an array"]);
    expect(problems({ broker: { hosts: Array.from({ length: 17 }, (_, i) => "h" + i) } })).toEqual([expect.stringMatching(/^broker\.hosts: lists 17 servers: at most 16/)]);
  });

  it("picks the port from tls and websocket", () => {
    expect(validateConfig({ broker: { host: "h", tls: true } }, "esp32").broker.port).toBe(8883);
    expect(validateConfig({ broker: { host: "h", websocket: "/mqtt" } }, "esp32").broker).toMatchObject({ port: 80, ws: "/mqtt" });
    expect(validateConfig({ broker: { host: "h", websocket: "/mqtt", tls: true } }, "esp32").broker.port).toBe(443);
  });

  it("turns seconds into ms and polls often only when a deadband needs it", () => {
    const c = validateConfig({ ...base(), interval: 10, sensors: [{ name: "t", type: "analog", pin: "A0", deadband: 0.5 }] }, "esp8266");
    expect(c.interval).toBe(10000);
    expect(c.poll).toBe(2000);
    expect(c.sensors[0]).toEqual({ name: "t", type: "analog", pin: "A0", scale: 1, offset: 0, deadband: 0.5, round: 100 });
  });

  it("homeassistant: false turns discovery off; a prefix and diagnostics can be set", () => {
    expect(validateConfig({ ...base(), homeassistant: false }, "esp8266").ha).toBeUndefined();
    const c = validateConfig({ ...base(), homeassistant: { prefix: "ha", diagnostics: false } }, "esp8266");
    expect(c.ha).toEqual({ prefix: "ha", entities: [] });
  });

  it("keys starting with _ are comments", () => {
    expect(problems({ ...base(), _note: "x", sensors: [{ _why: "y", name: "a", type: "analog", pin: "A0" }] })).toEqual([]);
  });
});

describe("config: errors name the key", () => {
  it("unknown keys, at every level", () => {
    const p = problems({ ...base(), colour: "red", broker: { host: "h", hots: "x" },
      sensors: [{ name: "a", type: "analog", pin: "A0", scal: 2 }], actuators: [{ name: "r", type: "digital", pin: "D5", inverted: true }] });
    expect(p).toEqual(expect.arrayContaining([
      expect.stringMatching(/^colour: unknown key/),
      expect.stringMatching(/^broker\.hots: unknown key/),
      expect.stringMatching(/^sensors\[0\]\.scal: unknown key/),
      expect.stringMatching(/^actuators\[0\]\.inverted: unknown key/),
    ]));
  });

  it("missing required fields", () => {
    expect(problems({})).toEqual(["broker: is required"]);
    expect(problems({ broker: {} })).toEqual(["broker.host: is required"]);
    const p = problems({ ...base(), sensors: [{ type: "analog" }, { name: "x" }], actuators: [{ name: "r", type: "pwm" }] });
    expect(p).toEqual(expect.arrayContaining(["sensors[0].name: is required", "sensors[0].pin: is required", "sensors[1].type: is required", "actuators[0].pin: is required"]));
  });

  it("wrong types and values", () => {
    const p = problems({ ...base(), interval: "60", restore: "flash", base: "a/#", id: "my device",
      broker: { host: "h", port: 70000 }, sensors: [{ name: "Temp", type: "analog", pin: "A0" }], actuators: [{ name: "l", type: "pwm", pin: "D5", max: 10 }] });
    expect(p).toEqual(expect.arrayContaining([
      "interval: must be a number",
      expect.stringMatching(/^restore: must be one of "retained", "storage", "none"/),
      expect.stringMatching(/^base: must be a topic without wildcards/),
      expect.stringMatching(/^id: must be 1-32 of/),
      "broker.port: must be 1..65535",
      expect.stringMatching(/^sensors\[0\]\.name: "Temp" is not a valid name/),
      expect.stringMatching(/^actuators\[0\]\.max: must be one of 1, 100/),
    ]));
  });

  it("unknown sensor and actuator types", () => {
    expect(problems({ ...base(), sensors: [{ name: "a", type: "bme280", pin: "D4" }] })).toEqual([expect.stringMatching(/^sensors\[0\]\.type: unknown sensor type "bme280" \(one of analog, digital/)]);
    expect(problems({ ...base(), actuators: [{ name: "a", type: "servo", pin: "D4" }] })).toEqual([expect.stringMatching(/^actuators\[0\]\.type: unknown actuator type "servo"/)]);
  });

  it("pins the board does not have, or has but not for that use", () => {
    expect(problems({ ...base(), actuators: [{ name: "r", type: "digital", pin: "D40" }] }, "esp32")).toEqual([expect.stringMatching(/^actuators\[0\]\.pin: board esp32 has no output pin "D40" \(output pins: D0, /)]);
    expect(problems({ ...base(), sensors: [{ name: "a", type: "analog", pin: "D5" }] }, "esp8266")).toEqual(['sensors[0].pin: board esp8266 has no analog pin "D5" (analog pins: A0)']);
    expect(problems({ ...base(), actuators: [{ name: "f", type: "pwm", pin: "D16" }] }, "esp8266")).toEqual([expect.stringMatching(/^actuators\[0\]\.pin: board esp8266 has no PWM pin "D16"/)]);
    expect(problems({ ...base(), actuators: [{ name: "r", type: "digital", pin: "D34" }] }, "esp32")).toEqual([expect.stringMatching(/^actuators\[0\]\.pin: board esp32 has no output pin "D34"/)]);
    expect(problems({ ...base(), sensors: [{ name: "b", type: "digital", pin: "D7" }] }, "esp8266")).toEqual(['sensors[0].pin: pin "D7" is reserved on board esp8266 (SPI flash)']);
    expect(problems({ ...base(), actuators: [{ name: "r", type: "digital", pin: { esp32: "D5" } }] }, "esp8266")).toEqual([expect.stringMatching(/^actuators\[0\]\.pin: has no entry for board esp8266/)]);
    // the host board takes any pin
    expect(problems({ ...base(), actuators: [{ name: "r", type: "digital", pin: "anything" }] }, "host")).toEqual([]);
  });

  it("duplicate names, reserved names, pins used twice", () => {
    const p = problems({ ...base(),
      sensors: [{ name: "a", type: "analog", pin: "A0" }, { name: "uptime", type: "digital", pin: "D4" }],
      actuators: [{ name: "a", type: "digital", pin: "D5" }, { name: "telemetry", type: "digital", pin: "D12" }, { name: "b", type: "digital", pin: "D5" }] });
    expect(p).toEqual(expect.arrayContaining([
      'sensors[1].name: "uptime" is reserved (the firmware uses it)',
      'actuators[0].name: duplicate name "a" (also sensors[0].name)',
      'actuators[1].name: "telemetry" is reserved (the firmware uses it)',
      'actuators[2].pin: pin "D5" is already used by actuators[0].pin',
    ]));
  });

  it("features the board lacks", () => {
    expect(problems({ broker: { host: "h", tls: true } }, "esp8266")).toEqual(["broker.tls: board esp8266 has no TLS (use plain MQTT, or an ESP32)"]);
    expect(problems({ ...base(), sensors: [{ name: "t", type: "ds18b20", pin: "1" }] }, "iotjs")).toEqual([expect.stringMatching(/^sensors\[0\]\.type: ds18b20 needs 1-Wire \(OneWire\), which board iotjs does not have/)]);
    expect(problems({ ...base(), sensors: [{ name: "t", type: "temperature" }] }, "esp8266")).toEqual([expect.stringMatching(/^sensors\[0\]\.type: temperature needs an on-chip temperature sensor/)]);
    expect(problems({ ...base(), sensors: [{ name: "t", type: "temperature" }] }, "esp32")).toEqual([]);
  });

  it("a DHT22 pin serves temperature and humidity once each; a 1-Wire bus many DS18B20", () => {
    const dht = (v?: string) => ({ name: "d" + (v || "x"), type: "dht22", pin: "D4", value: v });
    expect(problems({ ...base(), sensors: [dht("temperature"), dht("humidity")] })).toEqual([]);
    expect(problems({ ...base(), sensors: [{ ...dht(), name: "a" }, { ...dht(), name: "b" }] })).toEqual([expect.stringMatching(/^sensors\[1\]\.value: the DHT22 on pin "D4" already reports temperature/)]);
    expect(problems({ ...base(), sensors: [{ name: "a", type: "ds18b20", pin: "D4", index: 0 }, { name: "b", type: "ds18b20", pin: "D4", index: 1 }] })).toEqual([]);
    expect(problems({ ...base(), sensors: [{ name: "a", type: "ds18b20", pin: "D4" }], actuators: [{ name: "r", type: "digital", pin: "D4" }] }))
      .toEqual(['actuators[0].pin: pin "D4" is already used by sensors[0].pin']);
  });
});

describe("config: a custom sensor type", () => {
  it("declared in SENSOR_TYPES: its keys are checked and passed to the driver", () => {
    (SENSOR_TYPES as any).bh1750 = { keys: { pin: "pin", scl: "pin", address: "integer" }, pin: "output", unit: "lx", device_class: "illuminance" };
    try {
      const c = validateConfig({ ...base(), sensors: [{ name: "lux", type: "bh1750", pin: "D4", scl: { esp8266: "D5" }, address: 35 }] }, "esp8266");
      expect(c.sensors[0]).toEqual({ name: "lux", type: "bh1750", pin: "D4", scl: "D5", address: 35, round: 100 });
      expect(c.ha.entities[0]).toEqual(["sensor", "lux", { name: "Lux", unit_of_meas: "lx", dev_cla: "illuminance", stat_cla: "measurement" }]);
      expect(problems({ ...base(), sensors: [{ name: "lux", type: "bh1750", pin: "D4", adress: 35 }] })).toEqual([expect.stringMatching(/^sensors\[0\]\.adress: unknown key/)]);
    } finally { delete (SENSOR_TYPES as any).bh1750; }
  });
});

describe("config: secrets", () => {
  const SECRET = "s3cr3t-Value!";
  it("secrets in the device config are refused, naming the key, never the value", () => {
    const p = problems({ wifi: { ssid: "w", password: SECRET }, broker: { host: "h", password: SECRET, key: SECRET } });
    expect(p).toEqual(expect.arrayContaining([
      "wifi.password: is a secret: put it in secrets.json, not in the device config",
      "broker.password: is a secret: put it in secrets.json, not in the device config",
      "broker.key: is a secret: put it in secrets.json, not in the device config",
    ]));
    expect(p.join("\n")).not.toContain(SECRET);
  });

  it("unknown or misplaced secrets are refused without echoing them", () => {
    const p = problems({ broker: { host: "h" } }, "esp32", { wifi: { password: SECRET, pin: SECRET }, mqtt: { password: SECRET }, broker: { password: SECRET, ca: SECRET } });
    expect(p).toEqual(expect.arrayContaining([
      "secrets.wifi.pin: unknown key (expected one of password)",
      expect.stringMatching(/^secrets\.mqtt: unknown key/),
      "secrets.wifi.password: is set but the config has no wifi section",
      "secrets.broker.password: is set but broker.username is not",
      "secrets.broker.ca: is set but broker.tls is not true",
    ]));
    expect(p.join("\n")).not.toContain(SECRET);
  });

  it("merges passwords and TLS material (PEM text or a file beside secrets.json)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-cfg-"));
    try {
      const ca = pki().ca;
      writeFileSync(join(dir, "device.json"), JSON.stringify({ wifi: { ssid: "w" }, broker: { host: "h", tls: true, username: "u" } }));
      writeFileSync(join(dir, "ca.pem"), ca);
      writeFileSync(join(dir, "secrets.json"), JSON.stringify({ wifi: { password: "pw" }, broker: { password: "mp", ca: "ca.pem" } }));
      const c = loadConfig("esp32", { file: join(dir, "device.json") });
      expect(c.wifi.password).toBe("pw");
      expect(c.broker).toMatchObject({ username: "u", password: "mp", tls: { ca: der(ca) } }); // DER on Espruino boards
      expect(loadConfig("host", { file: join(dir, "device.json") }).broker.tls).toEqual({ ca }); // PEM for Node
      writeFileSync(join(dir, "secrets.json"), JSON.stringify({ broker: { ca: "missing.pem" } }));
      expect(() => loadConfig("esp32", { file: join(dir, "device.json") })).toThrow(/secrets\.broker\.ca: file .*missing\.pem not found/);
      writeFileSync(join(dir, "secrets.json"), '{ "wifi": { "password": "' + SECRET + '" ');
      const e = (() => { try { loadConfig("esp32", { file: join(dir, "device.json") }); } catch (x: any) { return x.message; } })();
      expect(e).toMatch(/secrets .*secrets\.json is not valid JSON$/);
      expect(e).not.toContain(SECRET);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  // Espruino's mbedtls has no PEM parser: tls.connect throws "mbedtls_x509_crt_parse of 'ca': Invalid format"
  // for PEM and takes DER (a binary string); Node takes PEM
  it("TLS material: DER bytes for Espruino boards, PEM for the host", () => {
    const p = pki(), tls = (board: string, s: any) => validateConfig({ broker: { host: "h", tls: true } }, board, { broker: s }).broker.tls;
    const s = { ca: p.ca, cert: p.clientCert, key: p.clientKey };
    for (const b of ["esp32", "espruino-linux"]) {
      const t = tls(b, s);
      expect(t).toEqual({ ca: der(p.ca), cert: der(p.clientCert), key: der(p.clientKey) });
      expect(t.ca.charCodeAt(0)).toBe(0x30); // an ASN.1 SEQUENCE
    }
    expect(tls("host", s)).toEqual(s);
    expect(tls("esp32", { ca: "\n" + p.ca + "\n" })).toEqual({ ca: der(p.ca) }); // text around the block is fine
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs1", format: "pem" }) as string;
    expect(tls("espruino-linux", { cert: p.clientCert, key: rsa }).key).toBe(der(rsa)); // PKCS#1 as it is
  });

  it("TLS material that is not what it should be fails the build, naming the key, never the value", () => {
    const p = pki(), bad = (s: any, board = "esp32") => problems({ broker: { host: "h", tls: true } }, board, { broker: s });
    const enc = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-128-cbc", passphrase: SECRET }) as string;
    const junk = "-----BEGIN CERTIFICATE-----\nAAAA" + SECRET + "\n-----END CERTIFICATE-----\n";
    const l = [
      bad({ ca: SECRET + " not pem" }), bad({ ca: p.clientKey }), bad({ ca: junk }), bad({ cert: p.clientCert, key: p.ca }),
      bad({ cert: p.clientCert, key: enc }), bad({ ca: p.ca + p.wrongCa }),
    ];
    expect(l).toEqual([
      ["secrets.broker.ca: is not PEM text (-----BEGIN ...-----) nor a path to a PEM file"],
      ["secrets.broker.ca: holds a PEM PRIVATE KEY, expected a certificate"],
      ["secrets.broker.ca: is not a certificate (its PEM does not parse)"],
      ["secrets.broker.key: holds a PEM CERTIFICATE, expected a private key"],
      ["secrets.broker.key: is an encrypted key: the device has no password for it (decrypt it: openssl pkey -in key.pem -out plain.pem)"],
      ["secrets.broker.ca: holds 2 PEM blocks: board esp32 takes one (Espruino's TLS loads one DER certificate)"],
    ]);
    expect(bad({ ca: p.ca + p.wrongCa }, "host")).toEqual([]); // Node takes a bundle
    expect(l.join("\n")).not.toContain(SECRET);
  });
});

/** the DER bytes of a one-block PEM, as a binary string */
function der(pem: string) { return Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64").toString("latin1"); }
let certs: ReturnType<typeof makeTestCerts> | null = null;
/** one throwaway PKI for the file (openssl), removed at exit */
function pki() {
  if (!certs) {
    certs = makeTestCerts();
    const d = certs.dir;
    process.on("exit", () => rmSync(d, { recursive: true, force: true }));
  }
  return certs;
}

describe("config: the build", () => {
  it("firmwareDefines: the config and the flags that keep unused parts out", () => {
    const d = firmwareDefines("esp8266", {});
    expect(d.__CONFIG__.broker.host).toBe("192.168.1.10");
    expect(d).toMatchObject({ __ANALOG__: true, __DIGITAL__: true, __DS18B20__: false, __DHT22__: false, __TEMPERATURE__: false,
      __PWM__: true, __HA__: true, __WS__: false, __STORE__: false, __SERVERS__: false });
    const cfg = JSON.parse(readFileSync(EXAMPLE, "utf8"));
    delete cfg.broker.host;
    cfg.broker.hosts = ["10.0.0.1", "10.0.0.2:1884"];
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-cfg-"));
    try {
      writeFileSync(join(dir, "device.json"), JSON.stringify(cfg));
      expect(firmwareDefines("esp8266", { file: join(dir, "device.json") }).__SERVERS__).toBe(true);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it("a bad config fails `build.mjs` with the file and the key", () => {
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-cfg-"));
    try {
      const cfg = JSON.parse(readFileSync(EXAMPLE, "utf8"));
      cfg.sensors[0].pin = "D99";
      writeFileSync(join(dir, "device.json"), JSON.stringify(cfg));
      const r = spawnSync(process.execPath, ["build/build.mjs", "--board", "esp8266", "--config", join(dir, "device.json"), "--quiet"], { cwd: ROOT, encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("device.json");
      expect(r.stderr).toContain('sensors[0].pin: board esp8266 has no analog pin "D99" (analog pins: A0)');
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe("config: battery mode (sleep, awake_max)", () => {
  const sleeper = (o: any = {}) => ({ ...base(), sleep: 300, ...o });
  const relay = { name: "relay", type: "digital", pin: "D5" };

  it("turns seconds into ms, defaults awake_max to 10 s and restore to storage; one reading per wake", () => {
    const c = validateConfig(sleeper({ actuators: [relay] }), "esp8266");
    expect(c).toMatchObject({ sleep: 300000, awake: 10000, restore: "storage", interval: 300000, poll: 300000 });
    expect(validateConfig(sleeper({ awake_max: 4 }), "esp32").awake).toBe(4000);
    expect(validateConfig(base(), "esp8266").sleep).toBeUndefined();
  });

  it("boards without deep sleep refuse it; each board's longest sleep", () => {
    expect(problems(sleeper(), "iotjs")).toEqual([expect.stringMatching(/^sleep: board iotjs has no deep sleep/)]);
    expect(problems(sleeper({ sleep: 4294 }), "esp8266")).toEqual([]);
    expect(problems(sleeper({ sleep: 4295 }), "esp8266")).toEqual([expect.stringMatching(/^sleep: must be 10\.\.4294 seconds on board esp8266/)]);
    expect(problems(sleeper({ sleep: 2148 }), "esp32")).toEqual([expect.stringMatching(/^sleep: must be 10\.\.2147 seconds on board esp32/)]);
    expect(problems(sleeper({ sleep: 5 }), "espruino-linux")).toEqual([expect.stringMatching(/^sleep: must be 10\.\./)]);
    expect(problems(sleeper({ sleep: "5" }), "esp8266")).toEqual(["sleep: must be a number"]);
  });

  it("awake_max: 2..120 s, shorter than sleep, and only with sleep", () => {
    expect(problems(sleeper({ awake_max: 1 }))).toEqual(["awake_max: must be 2..120 seconds"]);
    expect(problems(sleeper({ sleep: 20, awake_max: 30 }))).toEqual(["awake_max: must be less than sleep (20 s)"]);
    expect(problems({ ...base(), awake_max: 5 })).toEqual(['awake_max: needs "sleep" (it limits the time awake in battery mode)']);
  });

  it("refuses what cannot work on a sleeper: PWM outputs, restore from retained states, interval and poll", () => {
    const lamp = { name: "lamp", type: "pwm", pin: "D14" };
    expect(problems(sleeper({ actuators: [lamp] }))).toEqual([expect.stringMatching(/^actuators\[0\]\.type: pwm cannot work with sleep: PWM stops/)]);
    expect(problems(sleeper({ actuators: [relay], restore: "retained" }))).toEqual([expect.stringMatching(/^restore: "retained" cannot work with sleep/)]);
    expect(problems(sleeper({ actuators: [relay], restore: "none" }))).toEqual([]);
    expect(problems(sleeper({ interval: 60, poll: 2 }))).toEqual([
      expect.stringMatching(/^interval: is not used with sleep/), expect.stringMatching(/^poll: is not used with sleep/)]);
  });

  it("says what a relay does while the chip sleeps, and the ESP8266's wiring", () => {
    const w8 = validateConfig(sleeper({ actuators: [relay] }), "esp8266").warnings.join("\n");
    expect(w8).toMatch(/ESP8266 pins are not held/);
    expect(w8).toMatch(/wire GPIO16 \(NodeMCU\/Wemos D0\) to RST/);
    expect(validateConfig(sleeper({ actuators: [relay] }), "esp32").warnings.join("\n")).toMatch(/ESP32 pads are released: the pin floats/);
  });

  it("Home Assistant: sensors expire after two missed wakes, commands at QoS 1, the uptime is the time awake", () => {
    const c = validateConfig(sleeper({ awake_max: 5, actuators: [relay], sensors: [{ name: "t", type: "analog", pin: "A0" }] }), "esp8266");
    const e = (n: string) => c.ha.entities.find((x: any) => x[1] == n)[2];
    expect(e("t").exp_aft).toBe(905);
    expect(e("rssi").exp_aft).toBe(905);
    expect(e("relay").qos).toBe(1);
    expect(e("uptime")).toMatchObject({ name: "Awake", stat_cla: "measurement" });
    expect(validateConfig({ ...base(), actuators: [relay] }, "esp8266").ha.entities.find((x: any) => x[1] == "relay")[2].qos).toBeUndefined();
  });

  it("firmwareDefines: battery mode compiled in only with sleep, with the board's longest sleep and a tag that holds no secret", () => {
    const d = firmwareDefines("esp8266", {});
    expect(d).toMatchObject({ __SLEEP__: false, __SLEEPMAX__: 0, __TAG__: "" });
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-cfg-"));
    try {
      writeFileSync(join(dir, "device.json"), JSON.stringify(sleeper({ broker: { host: "10.0.0.2", username: "u" } })));
      writeFileSync(join(dir, "secrets.json"), JSON.stringify({ broker: { password: "pw-1" } }));
      const a = firmwareDefines("esp8266", { file: join(dir, "device.json") });
      expect(a).toMatchObject({ __SLEEP__: true, __SLEEPMAX__: 4294000, __STORE__: true, __RESTORE__: "storage" });
      expect(a.__TAG__).toMatch(/^[0-9a-f]{8}$/);
      writeFileSync(join(dir, "secrets.json"), JSON.stringify({ broker: { password: "pw-2" } }));
      expect(firmwareDefines("esp8266", { file: join(dir, "device.json") }).__TAG__).toBe(a.__TAG__);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe("config: updates over MQTT (ota)", () => {
  const KEY = { ota: { key: "0123456789abcdef" } };
  it("compiles in the key's bytes and keeps the deadline (default 60 s) for the flash and update commands", () => {
    const c = validateConfig({ ...base(), ota: true }, "esp8266", { ota: { key: "schlüssel-0123456789" } });
    expect(c.ota).toEqual({ k: Buffer.from("schlüssel-0123456789", "utf8").toString("latin1") });
    expect((c as any).otaInfo).toMatchObject({ deadline: 60000, hash: "sha1", digest: "crc32" });
    expect(Object.keys(c)).not.toContain("otaInfo");
    const e = validateConfig({ ...base(), ota: { deadline: 20 } }, "esp32", KEY);
    expect((e as any).otaInfo).toMatchObject({ deadline: 20000, hash: "sha256", digest: "sha256" });
    expect(validateConfig(base(), "esp32", {}).ota).toBeUndefined();
  });

  it("each problem named, never the key: no key, a short or long key, a key without ota, boards without, sleep, the deadline", () => {
    expect(problems({ ...base(), ota: true }, "esp8266", {})).toEqual([expect.stringMatching(/^secrets\.ota\.key: is required/)]);
    const p = problems({ ...base(), ota: true }, "esp8266", { ota: { key: "short-secret" } });
    expect(p).toEqual([expect.stringMatching(/^secrets\.ota\.key: must be 16\.\.64 characters/)]);
    expect(p.join()).not.toContain("short-secret");
    expect(problems({ ...base(), ota: true }, "esp8266", { ota: { key: "x".repeat(65) } })).toEqual([expect.stringMatching(/^secrets\.ota\.key: must be 16\.\.64/)]);
    expect(problems(base(), "esp8266", KEY)).toEqual([expect.stringMatching(/^secrets\.ota\.key: is set but the config has no "ota"/)]);
    expect(problems({ ...base(), ota: true }, "iotjs", KEY)).toEqual([expect.stringMatching(/^ota: board iotjs cannot be updated over MQTT/)]);
    expect(problems({ ...base(), ota: true }, "host", KEY)).toEqual([expect.stringMatching(/^ota: board host cannot/)]);
    expect(problems({ ...base(), ota: true, sleep: 300 }, "esp8266", KEY)).toEqual([expect.stringMatching(/^ota: cannot work with sleep/)]);
    expect(problems({ ...base(), ota: { deadline: 5 } }, "esp32", KEY)).toEqual(["ota.deadline: must be 10..600 seconds"]);
    expect(problems({ ...base(), ota: { wait: 5 } }, "esp32", KEY)).toEqual([expect.stringMatching(/^ota\.wait: unknown key/)]);
    expect(problems({ ...base(), ota: 1 }, "esp32", KEY)).toEqual(["ota: must be true, false or { deadline }"]);
    expect(problems({ ...base(), actuators: [{ name: "ota", type: "digital", pin: "D5" }] }, "esp8266")).toEqual([expect.stringMatching(/^actuators\[0\]\.name: "ota" is reserved/)]);
  });

  it("firmwareDefines: the update code only with ota, the version kept for it", () => {
    expect(firmwareDefines("esp8266", {}).__OTA__).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-cfg-"));
    try {
      writeFileSync(join(dir, "device.json"), JSON.stringify({ ...base(), ota: true, homeassistant: false }));
      writeFileSync(join(dir, "secrets.json"), JSON.stringify(KEY));
      const d = firmwareDefines("esp32", { file: join(dir, "device.json") });
      expect(d.__OTA__).toBe(true);
      expect(d.__CONFIG__.sw).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

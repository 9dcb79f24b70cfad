// The firmware the real-interpreter figures and tests run: the bench config, its bundle, and a stand-in
// for Espruino's Wifi module. A library (no run step): bench/espruino.ts and test/real/ import it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// build/ is loaded from the checkout at run time (the bench parts run compiled, from node_modules/.cache)
const ROOT = process.env.MQTT_MCU_ROOT || process.cwd();

/** The config of the memory figures: one digital sensor, two digital actuators, Home Assistant
 *  with diagnostics. */
export function benchConfig(id: string, port: number, extra: Record<string, any> = {}) {
  return {
    id, name: "Bench", broker: { host: "127.0.0.1", port, keepalive: 30 }, base: "mcu", interval: 1, poll: 1,
    homeassistant: { prefix: "homeassistant", diagnostics: true },
    sensors: [{ name: "door", type: "digital", pin: "D4", debounce: 50, device_class: "door" }],
    actuators: [{ name: "relay", type: "digital", pin: "D5", device_class: "outlet" }, { name: "light", type: "digital", pin: "D12", component: "light" }],
    ...extra,
  };
}

/** A firmware bundle for `board` built from `cfg` (as `npm run build` does). */
export async function buildFirmware(board: string, cfg: any, secrets: any = {}): Promise<string> {
  const b = await import(pathToFileURL(join(ROOT, "build/build.mjs")).href);
  const c = await import(pathToFileURL(join(ROOT, "build/config.mjs")).href);
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-fw-"));
  try {
    writeFileSync(join(dir, "device.json"), JSON.stringify(cfg));
    writeFileSync(join(dir, "secrets.json"), JSON.stringify(secrets));
    return await b.bundle({ entry: "src/app/main.ts", out: join(dir, board + ".js"), alias: { board: join(ROOT, "boards", board + ".ts") },
      define: c.firmwareDefines(board, { file: join(dir, "device.json"), secrets: join(dir, "secrets.json") }) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A stand-in for Espruino's Wifi module (an ESP bundle on the Linux interpreter): already associated,
 *  a MAC, an RSSI. Saved in Storage as module "Wifi" and loaded by the bundle's require("Wifi"). */
export const WIFI_STANDIN = `exports.connect = function (s, o, cb) { if (cb) setTimeout(cb, 10); };
exports.on = function () {};
exports.getIP = function () { return { ip: "127.0.0.1", mac: "5c:cf:7f:00:00:01" }; };
exports.getDetails = function () { return { rssi: -60 }; };`;

// Build the firmware for the simulated board exactly as `npm run build` does (esbuild + swc, ES5,
// minified, the config compiled in), with the broker pointed at the one the simulator uses.
import { join } from "node:path";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
// @ts-ignore: build scripts are plain ESM
import { bundle, ROOT } from "../build/build.mjs";
import { firmwareDefines } from "../build/config.mjs";
// @ts-ignore
import { configFiles } from "../build/ota-image.mjs";
import type { Config } from "../src/app/config";

export interface BrokerTarget {
  host: string;
  port: number;
  /** MQTT over WebSocket on this path; absent: MQTT over TCP */
  ws?: string;
}

/**
 * Point the compiled config at `b`: host, port, and TCP or WebSocket (the __WS__ flag follows).
 * TLS is dropped (the embedded broker has none), and with it the password. Returns notes for the terminal. Mutates `defines`.
 */
export function pointAt(defines: Record<string, any>, b: BrokerTarget): string[] {
  const c: Config = defines.__CONFIG__, notes: string[] = [];
  const was = `${c.broker.ws ? "ws" : c.broker.tls ? "mqtts" : "mqtt"}://${c.broker.host}:${c.broker.port}`;
  c.broker.host = b.host;
  c.broker.port = b.port;
  if (c.broker.servers) { delete c.broker.servers; notes.push("broker.hosts: the simulator connects to its one broker"); }
  if (c.broker.tls) {
    delete c.broker.tls;
    notes.push("broker.tls is off in the simulator");
    // a password meant for TLS must not go out in clear text (--config reads secrets.json)
    if (c.broker.password !== undefined) { delete c.broker.password; notes.push("broker.password is not sent without TLS: removed"); }
  }
  if (b.ws) c.broker.ws = b.ws; else delete c.broker.ws;
  defines.__WS__ = !!b.ws;
  const now = `${b.ws ? "ws" : "mqtt"}://${b.host}:${b.port}${b.ws || ""}`;
  if (was !== `${b.ws ? "ws" : "mqtt"}://${b.host}:${b.port}`) notes.push(`broker ${was} in the config -> ${now}`);
  return notes;
}

export interface BuiltFirmware {
  code: string;
  config: Config;
  bytes: number;
  ms: number;
  notes: string[];
}

/** `secrets`: a secrets.json path, or null to let build/config.mjs look beside the config as usual. */
export async function buildFirmware(o: { board: string; configFile: string; secrets: string | null; broker: BrokerTarget; outDir: string }): Promise<BuiltFirmware> {
  const t0 = Date.now();
  const defines = firmwareDefines(o.board, { file: o.configFile, secrets: o.secrets || undefined }) as Record<string, any>;
  const notes = pointAt(defines, o.broker);
  const code: string = await bundle({
    entry: "src/app/main.ts",
    out: join(o.outDir, o.board + ".js"),
    alias: { board: join(ROOT, "boards", o.board + ".ts") },
    define: defines,
  });
  return { code, config: defines.__CONFIG__, bytes: Buffer.byteLength(code), ms: Date.now() - t0, notes };
}

/** An empty secrets.json in `dir` (a config without "ota" needs none; a developer's own secrets.json in
 *  the project root must not leak into the simulated board). */
export function emptySecrets(dir: string): string {
  const f = join(dir, "secrets.json");
  writeFileSync(f, "{}\n");
  return f;
}

/** The update key of the simulator's example board (examples/sim.json has "ota"): a demo, not a secret. */
export const DEMO_KEY = "mqtt-mcu simulator demo key";

/** secrets.json with only the demo update key, in `dir` (the example config's; a developer's own
 *  secrets.json in the project root must not leak into the simulated board). */
export function demoSecrets(dir: string): string {
  const f = join(dir, "secrets.json");
  writeFileSync(f, JSON.stringify({ ota: { key: DEMO_KEY } }, null, 2) + "\n", { mode: 0o600 });
  return f;
}

/** `raw` (a device.json as parsed) with its broker pointed at `b` as pointAt points the compiled config:
 *  host, port, WebSocket path; no other hosts, no TLS. */
export function pointedConfig(raw: any, b: BrokerTarget): any {
  const c = JSON.parse(JSON.stringify(raw)), br = (c.broker = Object.assign({}, c.broker));
  br.host = b.host;
  br.port = b.port;
  delete br.hosts;
  delete br.tls;
  if (b.ws) br.websocket = b.ws; else delete br.websocket;
  return c;
}

export interface UpdateSetup {
  /** the Storage of the board as flashed with `npm run flash -- --save`: boot selector + slot 0 */
  storage: Map<string, string>;
  /** the config and secrets the firmware was built from, written for `npm run ota` */
  config: string;
  secrets: string;
  version: string;
  /** the command that updates the simulated board */
  command: string;
}

/**
 * An updatable simulated board (a config with "ota"): its flashed Storage, and the files `npm run ota`
 * needs to rebuild this very firmware (same config, broker pointed at the simulator's, same key) written
 * to `dir` as device.json and secrets.json. `secretsFile`: the secrets the build read (null: none).
 * Broker TLS material is left out of the copy (the simulator's broker has no TLS, pointAt drops it), and
 * so is a broker password that was meant for TLS. Returns null for a config without "ota".
 */
export function updateSetup(o: { fw: BuiltFirmware; raw: any; secretsFile: string | null; broker: BrokerTarget; dir: string; brokerUrl: string; id: string }): UpdateSetup | null {
  const c = o.fw.config as any;
  if (!c.ota) return null;
  const sec = o.secretsFile && existsSync(o.secretsFile) ? JSON.parse(readFileSync(o.secretsFile, "utf8")) : {};
  if (sec.broker) {
    for (const k of ["ca", "cert", "key"]) delete sec.broker[k];
    if (o.raw.broker && o.raw.broker.tls) delete sec.broker.password;
  }
  const config = join(o.dir, "device.json"), secrets = join(o.dir, "secrets.json");
  writeFileSync(config, JSON.stringify(pointedConfig(o.raw, o.broker), null, 2) + "\n");
  writeFileSync(secrets, JSON.stringify(sec, null, 2) + "\n", { mode: 0o600 });
  const files = configFiles(o.fw.code, c);
  return {
    storage: new Map(Object.entries(files)) as Map<string, string>, config, secrets, version: c.sw,
    command: `npm run ota -- --config ${config} --secrets ${secrets} --broker ${o.brokerUrl} --device ${o.id}`,
  };
}

export { ROOT };

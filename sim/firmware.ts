// Build the firmware for the simulated board exactly as `npm run build` does (esbuild + swc, ES5,
// minified, the config compiled in), with the broker pointed at the one the simulator uses.
import { join } from "node:path";
import { writeFileSync } from "node:fs";
// @ts-ignore: build scripts are plain ESM
import { bundle, ROOT } from "../build/build.mjs";
import { firmwareDefines } from "../build/config.mjs";
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

/** An empty secrets.json in `dir` (the example config needs none; a developer's own secrets.json in the
 *  project root must not leak into the simulated board). */
export function emptySecrets(dir: string): string {
  const f = join(dir, "secrets.json");
  writeFileSync(f, "{}\n");
  return f;
}

export { ROOT };

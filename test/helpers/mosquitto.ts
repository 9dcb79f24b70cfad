// A real Mosquitto broker for integration tests, on free 127.0.0.1 ports, controlled by PID.
//
//   import { hasMosquitto, startMosquitto } from "../helpers/mosquitto";
//   describe.skipIf(!hasMosquitto)("...", () => {
//     let b: Mosquitto;
//     beforeAll(async () => { b = await startMosquitto({ websockets: true }); });
//     afterAll(() => b.stop());
//     ... b.port (plain MQTT), b.wsPort, b.tlsPort
//   });
//
// - Every listener binds 127.0.0.1 only (websockets need `socket_domain ipv4`, or Mosquitto 2.0 binds
//   every interface).
// - Started as root, Mosquitto drops to the `mosquitto` user: the temp dir and every file in it are made
//   readable (and the dir writable, for persistence) by it.
// - Control: down()/up() stop and start the broker on the same ports with the same dir (persistence
//   survives when enabled), restart() does both, pause()/resume() freeze it with SIGSTOP/SIGCONT (the
//   sockets stay open but nothing answers: a dead link, as keepalive sees it), stop() ends it for good
//   and removes the dir. Brokers still running when the test process exits are killed by PID.
// - Mosquitto missing: `hasMosquitto` is false and a loud warning is printed; tests skip. With CI=true a
//   missing Mosquitto throws on import instead, so CI fails rather than silently skipping.
import { spawn, ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

function findMosquitto(): string | null {
  // MOSQUITTO_BIN picks the binary (and, set to a missing path, lets one check the "not installed" path)
  if (process.env.MOSQUITTO_BIN) return existsSync(process.env.MOSQUITTO_BIN) ? process.env.MOSQUITTO_BIN : null;
  const dirs = (process.env.PATH || "").split(":").concat(["/usr/sbin", "/usr/local/sbin", "/sbin"]);
  for (const d of dirs) if (d && existsSync(join(d, "mosquitto"))) return join(d, "mosquitto");
  return null;
}

/** absolute path of the mosquitto binary, or null */
export const mosquittoPath = findMosquitto();
export const hasMosquitto = mosquittoPath !== null;

if (!hasMosquitto) {
  const how = "(apt-get install mosquitto, as .ci/run does; or MOSQUITTO_BIN=/path/to/mosquitto)";
  if (process.env.CI === "true") throw new Error("mosquitto is not installed and CI=true: the broker tests fail rather than skip " + how);
  const msg = "mosquitto is not installed: the integration tests that need a real broker are SKIPPED " + how;
  console.warn("\n" + "!".repeat(100) + "\n!!! " + msg + "\n" + "!".repeat(100) + "\n");
}

export interface TlsListener {
  /** PEM file paths for the broker */
  certfile: string;
  keyfile: string;
  /** CA for client certificates; with `requireCertificate` clients must present one signed by it */
  cafile?: string;
  requireCertificate?: boolean;
}

export interface MosquittoOptions {
  /** add a websockets listener (wsPort) */
  websockets?: boolean;
  /** add a TLS listener (tlsPort) */
  tls?: TlsListener;
  /** with `tls`: add a WebSocket-over-TLS listener too (wssPort), with the same certificate */
  wss?: boolean;
  /** keep sessions and retained messages across down()/up() (a persistence file in the dir) */
  persistence?: boolean;
  /** lines appended to the generated mosquitto.conf (global options, or more listeners) */
  extraConf?: string;
  /** ms to wait for the listeners; default 10000 */
  timeout?: number;
}

export interface Mosquitto {
  /** plain MQTT listener */
  port: number;
  wsPort?: number;
  tlsPort?: number;
  wssPort?: number;
  /** PID of the running broker (changes on up()/restart()) */
  pid: number;
  /** temp dir with mosquitto.conf, the persistence file and mosquitto.log */
  dir: string;
  /** stop for good and remove the dir */
  stop(): Promise<void>;
  /** stop the process (SIGTERM, then SIGKILL after 3 s); ports and dir are kept for up() */
  down(): Promise<void>;
  /** start again on the same ports with the same config */
  up(): Promise<void>;
  /** down() then up() */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: the broker freezes with its sockets open */
  pause(): void;
  resume(): void;
  /** the broker's output so far (stdout + stderr of every start), for failure messages */
  log(): string;
}

const running = new Set<number>();
process.on("exit", () => {
  for (const pid of running) { try { process.kill(pid, "SIGCONT"); process.kill(pid, "SIGKILL"); } catch {} }
});

/** a port that was free a moment ago on 127.0.0.1 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as any).port;
      s.close(() => resolve(p));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: "127.0.0.1", port });
    c.on("connect", () => { c.destroy(); resolve(true); });
    c.on("error", () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start a broker. Rejects with the broker's output when it does not come up. */
export async function startMosquitto(o: MosquittoOptions = {}): Promise<Mosquitto> {
  if (!mosquittoPath) throw new Error("mosquitto is not installed");
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-mosq-"));
  chmodSync(dir, 0o777); // the broker may run as the `mosquitto` user and writes its persistence file here
  let output = "";
  let child: ChildProcess | null = null;
  let ports: { port: number; wsPort?: number; tlsPort?: number; wssPort?: number } = { port: 0 };

  function conf() {
    const l = [
      `# generated by test/helpers/mosquitto.ts`,
      `per_listener_settings false`,
      `allow_anonymous true`,
      `log_dest stderr`,
      `log_type error`, `log_type warning`, `log_type notice`,
      `persistence ${o.persistence ? "true" : "false"}`,
      `persistence_location ${dir}/`,
      `listener ${ports.port} 127.0.0.1`,
    ];
    if (ports.wsPort) l.push(`listener ${ports.wsPort} 127.0.0.1`, `protocol websockets`, `socket_domain ipv4`);
    if (o.tls && ports.tlsPort) {
      l.push(`listener ${ports.tlsPort} 127.0.0.1`, `certfile ${o.tls.certfile}`, `keyfile ${o.tls.keyfile}`);
      if (o.tls.cafile) l.push(`cafile ${o.tls.cafile}`);
      if (o.tls.requireCertificate) l.push(`require_certificate true`);
    }
    if (o.tls && ports.wssPort) l.push(`listener ${ports.wssPort} 127.0.0.1`, `protocol websockets`, `socket_domain ipv4`, `certfile ${o.tls.certfile}`, `keyfile ${o.tls.keyfile}`);
    if (o.extraConf) l.push(o.extraConf);
    return l.join("\n") + "\n";
  }

  function readable() {
    // files the broker reads (certificates given by the test may live elsewhere: make those readable too)
    for (const f of readdirSync(dir)) try { chmodSync(join(dir, f), 0o666); } catch {}
    if (o.tls) for (const f of [o.tls.certfile, o.tls.keyfile, o.tls.cafile]) if (f) try { chmodSync(f, 0o644); } catch {}
  }

  async function launch(): Promise<void> {
    writeFileSync(join(dir, "mosquitto.conf"), conf());
    readable();
    const c = spawn(mosquittoPath!, ["-c", join(dir, "mosquitto.conf")], { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    running.add(c.pid!);
    let exited: number | null | undefined;
    c.stdout!.on("data", (d) => { output += d; });
    c.stderr!.on("data", (d) => { output += d; });
    c.on("exit", (code, sig) => { exited = code ?? -1; running.delete(c.pid!); output += `[mosquitto exited: ${code ?? sig}]\n`; });
    const deadline = Date.now() + (o.timeout || 10000);
    const want = [ports.port, ports.wsPort, ports.tlsPort, ports.wssPort].filter(Boolean) as number[];
    for (;;) {
      if (exited !== undefined) throw new Error(`mosquitto exited at start:\n${output}`);
      let ok = true;
      for (const p of want) if (!(await accepts(p))) { ok = false; break; }
      if (ok) return;
      if (Date.now() > deadline) { await kill(); throw new Error(`mosquitto did not listen on ${want.join(", ")} within ${o.timeout || 10000} ms:\n${output}`); }
      await sleep(25);
    }
  }

  async function kill(): Promise<void> {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once("exit", () => r()));
    try { process.kill(c.pid!, "SIGCONT"); process.kill(c.pid!, "SIGTERM"); } catch {}
    const t = setTimeout(() => { try { process.kill(c.pid!, "SIGKILL"); } catch {} }, 3000);
    await gone;
    clearTimeout(t);
  }

  // a free port can be taken between the probe and the broker's bind: try again with fresh ports
  for (let attempt = 1; ; attempt++) {
    ports = { port: await freePort() };
    if (o.websockets) ports.wsPort = await freePort();
    if (o.tls) ports.tlsPort = await freePort();
    if (o.tls && o.wss) ports.wssPort = await freePort();
    try { await launch(); break; } catch (e) {
      if (attempt >= 3 || !/Address already in use/i.test(output)) { rmSync(dir, { recursive: true, force: true }); throw e; }
    }
  }

  const m: Mosquitto = {
    ...ports,
    pid: child!.pid!,
    dir,
    async stop() { await kill(); rmSync(dir, { recursive: true, force: true }); },
    async down() { await kill(); },
    async up() { if (!child) { await launch(); m.pid = child!.pid!; } },
    async restart() { await kill(); await m.up(); },
    pause() { if (child) process.kill(child.pid!, "SIGSTOP"); },
    resume() { if (child) process.kill(child.pid!, "SIGCONT"); },
    log: () => output,
  };
  return m;
}

/** A broker with every transport the firmware speaks: plain, TLS, WebSocket and WebSocket over TLS
 *  (the TLS ones with `certs`' server certificate). */
export function startMosquittoAllTransports(certs: { certFile: string; keyFile: string }, o: MosquittoOptions = {}): Promise<Mosquitto> {
  return startMosquitto({ ...o, websockets: true, tls: { certfile: certs.certFile, keyfile: certs.keyFile }, wss: true });
}

// the throwaway PKI lives in ./certs (unit tests use it without a broker); re-exported for the broker tests
export { makeTestCerts } from "./certs";
export type { TestCerts } from "./certs";

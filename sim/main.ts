// npm start: the firmware built for a simulated board, an embedded broker, the board's web page.
// sim/start.mjs bundles this file for Node and calls main(argv). Every part started is registered with
// the Shutdown, so Ctrl-C (or a failure half way) stops what runs, in reverse order.
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import * as esbuild from "esbuild";
import { parseArgs, USAGE, DEFAULT_PORTS, brokerUrl, type BrokerUrl, type SimArgs } from "./args";
import { startBroker } from "./broker";
import { buildFirmware, demoSecrets, updateSetup, ROOT, type UpdateSetup } from "./firmware";
import { secretsFor } from "../build/config.mjs";
import { actuatorInfo, sensorInfo } from "./device";
import { SimBoard, type BoardSnapshot } from "./board";
import { startWeb } from "./server";
import { observe } from "./observer";
import { OtaTracker, otaResult, type OtaView } from "./ota";
import { Logger } from "./log";
import { Shutdown, exitOnSignals } from "./shutdown";

export const EXAMPLE = "examples/sim.json";
/** the emulated board's WiFi MAC: its device id when the config has none */
const MAC = "24:0a:c4:5e:00:01";

/** An error whose message says it all (no stack trace for the user). */
function userError(msg: string) { return Object.assign(new Error(msg), { user: true }); }

export interface Running {
  web: { port: number; url: string };
  broker: BrokerUrl;
  wsUrl: string;
  root: string;
  board: SimBoard;
  shutdown: Shutdown;
  /** the update over MQTT as the broker saw it */
  ota: OtaTracker;
  /** how to update the board (null: its config has no "ota") */
  update: UpdateSetup | null;
}

/** Bundle the page's script (sim/page/app.ts + our MQTT client) for the browser. */
async function pageFiles() {
  const dir = join(ROOT, "sim/page");
  const r = await esbuild.build({
    entryPoints: [join(dir, "app.ts")], bundle: true, format: "iife", platform: "browser", target: "es2020",
    define: { __SERVER__: "false" }, write: false, logLevel: "silent", legalComments: "none",
  });
  return { html: readFileSync(join(dir, "index.html"), "utf8"), css: readFileSync(join(dir, "style.css"), "utf8"), js: r.outputFiles[0].text };
}

/** a host name the emulated board can connect to: IPs as they are, other names resolved here */
async function hostsFor(host: string): Promise<Record<string, string>> {
  if (isIP(host) || host === "localhost") return {};
  try { const a = await lookup(host, { family: 4 }); return { [host]: a.address }; } catch {
    throw userError(`--broker: cannot resolve host name "${host}"`);
  }
}

export async function start(a: SimArgs, o: { shutdown: Shutdown; out?: (s: string) => void; color?: boolean }): Promise<Running> {
  const sd = o.shutdown, out = o.out || ((s: string) => { process.stdout.write(s); });
  const log = new Logger({ write: out, color: !!o.color, width: Math.min(process.stdout.columns || 120, 160) });
  sd.add("log", () => log.stop());
  const cfgFile = resolve(a.config || join(ROOT, EXAMPLE));
  if (!existsSync(cfgFile)) throw userError(`config ${a.config} not found`);
  const rel = relative(process.cwd(), cfgFile), cfgName = rel && !rel.startsWith("..") ? rel : cfgFile;

  // 1. the ports first: a port in use fails before anything slow
  const web = await startWeb({ port: a.port, preferred: DEFAULT_PORTS.web, onFallback: (m) => log.info(m) });
  sd.add("web page", () => web.stop());
  let broker: BrokerUrl, wsForPage: { host: string; port: number; path: string }, embedded = false;
  if (a.broker) {
    broker = a.broker;
    if (broker.protocol === "ws") wsForPage = { host: broker.host, port: broker.port, path: broker.path };
    else { web.bridge(broker.host, broker.port); wsForPage = { host: "127.0.0.1", port: web.port, path: "/mqtt" }; }
  } else {
    const b = await startBroker({ port: a.mqttPort, wsPort: a.wsPort, preferred: { port: DEFAULT_PORTS.mqtt, wsPort: DEFAULT_PORTS.ws }, webPort: web.port, onFallback: (m) => log.info(m) });
    sd.add("broker", () => b.stop());
    embedded = true;
    broker = { protocol: "mqtt", host: "127.0.0.1", port: b.port, path: "" };
    wsForPage = { host: "127.0.0.1", port: b.wsPort, path: "/mqtt" };
  }

  // 2. the firmware, built as `npm run build` builds it, pointed at that broker
  const tmp = mkdtempSync(join(tmpdir(), "mqtt-mcu-sim-"));
  sd.add("temporary files", () => rmSync(tmp, { recursive: true, force: true }));
  const hosts = await hostsFor(broker.host);
  // the example's secrets: the demo update key only (a developer's own secrets.json is not read)
  const secrets = !a.config || cfgFile === resolve(ROOT, EXAMPLE) ? demoSecrets(tmp) : null;
  const target = { host: broker.host, port: broker.port, ws: broker.protocol === "ws" ? broker.path : undefined };
  const fw = await buildFirmware({ board: a.board, configFile: cfgFile, secrets, broker: target, outDir: tmp });
  const c = fw.config, id = c.id || MAC.split(":").join(""), root = `${c.base}/${id}`, haPrefix = c.ha ? c.ha.prefix : "homeassistant";
  log.root = root; log.id = id; log.haPrefix = haPrefix;
  if (a.config) for (const n of fw.notes) log.info(n);
  const raw = JSON.parse(readFileSync(cfgFile, "utf8"));
  // with "ota": flashed as npm run flash -- --save does (boot selector, slot 0), and updatable with the
  // config and secrets written to the temporary directory
  const upd = updateSetup({ fw, raw, secretsFile: secrets || secretsFor(cfgFile), broker: target, dir: tmp, brokerUrl: brokerUrl(broker), id });
  const sensors = sensorInfo(c, raw), actuators = actuatorInfo(c, raw);
  for (const s of sensors) if (s.kind === "none") log.info(`sensor ${s.name} (${s.type}) is not simulated: it reads null`);

  // 3. the terminal's view of the broker, before the board starts, so its first messages show
  // pin changes and the update's progress reach the page at once (coalesced over 20 ms)
  let pending: ReturnType<typeof setTimeout> | null = null, push = () => {};
  const schedulePush = () => { if (!pending) pending = setTimeout(() => { pending = null; push(); }, 20); };
  const ota = new OtaTracker(root);
  let otaShown = "";
  const obs = observe(broker, [root + "/#", `${haPrefix}/+/${id}/+/config`], (t, p, r) => {
    log.mqtt(t, p, r);
    if (!ota.message(t, p)) return;
    // the terminal: the update's phases and every quarter of the image, not each chunk
    const v = ota.view, q = v.phase === "receiving" && v.total ? Math.floor((v.received * 4) / v.total) : -1;
    const said = v.phase + q + (v.result ? v.result.at : "");
    if (said !== otaShown) {
      otaShown = said;
      if (v.phase === "receiving") log.info(`update to ${v.to}: ${v.received.toLocaleString("en")} of ${v.total.toLocaleString("en")} bytes written`);
      else if (v.phase === "rebooting") log.info(`update to ${v.to}: verified, the board reboots into it`);
      else if (v.phase === "idle" && v.result) log.info("update: " + otaResult(v.result));
    }
    schedulePush();
  },
    { onLinkChange: (up, why) => (up ? log.info("broker link back") : log.error("broker link lost" + (why ? ": " + why : ""))) });
  sd.add("terminal MQTT client", () => obs.stop());
  await obs.ready;

  // 4. say where everything is, then boot the board (its first messages follow the banner)
  const pageUrl = `http://127.0.0.1:${web.port}`, files = await pageFiles();
  const wsUrl = `ws://${wsForPage.host}:${wsForPage.port}${wsForPage.path}`;
  out(banner({ color: !!o.color, pageUrl, broker, wsUrl: embedded ? wsUrl : null, embedded, root, board: a.board, bytes: fw.bytes, ms: fw.ms, cfgName, actuators: actuators.map((x) => x.name), update: upd && upd.command }));
  const board = new SimBoard({
    board: a.board, code: fw.code, storage: upd ? upd.storage : undefined, sensors, actuators, hosts, mac: MAC,
    log: (l) => log.board(l),
    onOutput: schedulePush,
  });
  let snap: PageSnapshot | null = null;
  const snapshot = (): PageSnapshot => Object.assign(board.snapshot(), { ota: ota.view });
  // (a sleeping board's emulation is halted: its page still learns when it wakes; a rebooting one's
  // too, between two boots)
  push = () => { if (board.emu && (!board.emu.halted || board.asleep)) { snap = snapshot(); web.broadcast(snap); } };
  web.current = () => snap || snapshot();
  sd.add("board", async () => {
    if (pending) clearTimeout(pending);
    await board.stop();
    await new Promise((r) => setTimeout(r, 150)); // the broker publishes the board's will: let the log show it
  });
  await board.start();
  const ticker = setInterval(push, 500);
  sd.add("page updates", () => clearInterval(ticker));

  // 5. the page
  const said: Record<string, ReturnType<typeof setTimeout>> = {};
  web.ready(files, {
    base: c.base, id, root, name: c.name || id, board: a.board, haPrefix, interval: c.interval, sleep: c.sleep || 0,
    firmware: { bytes: fw.bytes, config: cfgName },
    broker: { url: brokerUrl(broker), embedded },
    ws: wsForPage, tcp: broker.protocol === "mqtt" ? { host: broker.host, port: broker.port } : null,
    sensors, actuators,
    ota: upd ? { command: upd.command, config: upd.config, secrets: upd.secrets } : null,
  }, (name, value) => {
    const err = board.set(name, value);
    if (err) return err;
    const s = sensors.find((x) => x.name === name)!;
    // a slider sends many values: log where it stopped
    clearTimeout(said[name]);
    said[name] = setTimeout(() => log.info(s.kind === "button" ? `${s.label}: ${value ? "pressed" : "released"}` : `${s.label} set to ${board.targets[name]}${s.unit ? " " + s.unit : ""}`), s.kind === "button" ? 0 : 400);
    push();
    return null;
  });
  sd.add("input log", () => { for (const k in said) clearTimeout(said[k]); });

  return { web: { port: web.port, url: pageUrl }, broker, wsUrl, root, board, shutdown: sd, ota, update: upd };
}

/** what the page's events carry: the board, and the update over MQTT as the broker saw it */
export type PageSnapshot = BoardSnapshot & { ota: OtaView };


export function banner(b: { color: boolean; pageUrl: string; broker: BrokerUrl; wsUrl: string | null; embedded: boolean; root: string; board: string;
  bytes: number; ms: number; cfgName: string; actuators: string[]; update?: string | null }): string {
  const B = (s: string) => (b.color ? `\x1b[1m${s}\x1b[0m` : s), D = (s: string) => (b.color ? `\x1b[2m${s}\x1b[0m` : s);
  const h = b.broker.host, p = b.broker.port, act = b.actuators[0];
  const cmd = act ? `-t ${b.root}/cmd/${act} -m TOGGLE` : `-t ${b.root}/cmd/telemetry -m now`;
  const L = [
    "",
    `${B("mqtt-mcu simulator")}  ${D(`${b.board} firmware, ${b.bytes.toLocaleString("en")} bytes of ES5 built from ${b.cfgName} in ${(b.ms / 1000).toFixed(1)} s, running in an emulated Espruino`)}`,
    "",
    `  web page   ${B(b.pageUrl)}`,
    `  broker     ${brokerUrl(b.broker)}${b.wsUrl ? `  ·  ${b.wsUrl}` : ""}  ${D(b.embedded ? "(embedded aedes, on this machine only)" : "(yours)")}`,
    `  topics     ${b.root}/#  ${D("(written ~ below)")}`,
  ];
  if (b.broker.protocol === "mqtt") L.push(
    `  try        mosquitto_sub -h ${h} -p ${p} -t '${b.root}/#' -v`,
    `             mosquitto_pub -h ${h} -p ${p} ${cmd}`,
    D(`             (no mosquitto-clients? npx mqtt sub -h ${h} -p ${p} -t '${b.root}/#' -v)`),
  );
  if (b.update) L.push(
    `  update     ${b.update}`,
    D(`             (the firmware as built: "already up to date"; add --version 0.2.0, or edit that device.json, for a new one)`),
  );
  L.push("", `  Ctrl-C stops everything.   ${D("→ from the board   ← to the board   ▪ its console")}`, "", "");
  return L.join("\n");
}

/** The command: parse, start, and stop on Ctrl-C. Exit codes: 0 stopped cleanly, 1 failed, 2 bad usage. */
export async function main(argv: string[]): Promise<void> {
  let a: SimArgs;
  try { a = parseArgs(argv); } catch (e) {
    process.stderr.write(`npm start: ${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (a.help) { process.stdout.write(USAGE + "\n"); return; }
  const color = a.color && !!process.stdout.isTTY && !process.env.NO_COLOR;
  const sd = new Shutdown();
  // on a terminal, "\r" writes over the "^C" it echoed
  exitOnSignals(sd, { log: (s) => process.stdout.write((process.stdout.isTTY ? "\r" : "") + s + "\n") });
  try {
    await start(a, { shutdown: sd, color });
  } catch (e: any) {
    const known = e && (e.user || e.code === "EADDRINUSE" || Array.isArray(e.errors) || /^build failed|^config /.test(e.message));
    process.stderr.write(`npm start: ${known ? e.message : e && e.stack || e}\n`);
    await sd.run();
    process.exit(1);
  }
}

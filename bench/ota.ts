// Updates over MQTT (#15): the time and the bytes on the wire to update 1 and 20 devices.
//   node <compiled> --out results.json [--quick]
// The devices: the built espruino-linux firmware in the Espruino emulation (emu/espruino.ts, real time),
// each flashed as `npm run flash -- --save` leaves it (build/ota-image.mjs flashFiles: the boot selector,
// 1.0.0 in slot 0) with its own MAC (so its own id: the config has none), all in this process, one local
// Mosquitto. E.reboot() boots a device again on the same Storage, as the chip would.
// The update: the update command's code (build/ota.mjs runOta, --all: the devices found by their
// retained status, 8 side by side) sends 2.0.0 of the same config. Its MQTT connection goes through a
// counting TCP proxy: the wire bytes are everything runOta and the broker exchanged (MQTT packets, both
// directions: the chunks and their PUBACKs, begin/finish, the devices' answers and the retained status
// topics), not TCP/IP headers; the devices' own traffic (their subscriptions, the chunks as the broker
// forwards them, their acknowledgements) is not in it. Time: the whole runOta call, from its connect to
// the last verdict (it includes building the image once, measured apart, the 1.5 s it listens for
// retained status topics, and each device's reboot into 2.0.0 and its confirmation).
import { createServer, connect, type Server, type Socket } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { OtaDevice } from "../emu/saved-board";
import { args, emit, median } from "./lib";
import { benchConfig } from "./firmware";
import { startMosquitto } from "./mosquitto";

const ROOT = process.env.MQTT_MCU_ROOT || process.cwd();
const { out: outFile, quick } = args();
const KEY = "bench-update-key-0123456789";

/** A TCP proxy to 127.0.0.1:port that counts the bytes each way. */
async function countingProxy(port: number) {
  const n = { up: 0, down: 0 }, socks = new Set<Socket>();
  const srv: Server = createServer((c) => {
    const b = connect(port, "127.0.0.1");
    socks.add(c); socks.add(b);
    c.setNoDelay(true); b.setNoDelay(true);
    c.on("data", (d) => { n.up += d.length; b.write(d); });
    b.on("data", (d) => { n.down += d.length; c.write(d); });
    const end = () => { c.destroy(); b.destroy(); };
    c.on("error", end); b.on("error", end); c.on("close", end); b.on("close", end);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as any).port as number, n,
    reset() { n.up = n.down = 0; },
    close() { for (const s of socks) s.destroy(); srv.close(); },
  };
}

async function run(n: number, port: number, cfgFile: string, secFile: string, v1: string, ota: any, mqtt: any) {
  const { flashFiles } = await import(pathToFileURL(join(ROOT, "build/ota-image.mjs")).href);
  const files = flashFiles(v1, { key: KEY, version: "1.0.0", deadlineMs: 30000 });
  const devs: OtaDevice[] = [];
  // the devices' retained status: wait until all are online (a fresh set of MACs each run)
  const tag = (Date.now() % 0xffff).toString(16).padStart(4, "0");
  const macs = Array.from({ length: n }, (_, i) => `5c:cf:7f:${tag.slice(0, 2)}:${tag.slice(2)}:${(i + 1).toString(16).padStart(2, "0")}`);
  const ids = macs.map((m) => m.split(":").join(""));
  const w = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
  const on = new Set<string>();
  w.on("message", (t: string, p: Buffer) => { if (p.toString() == "online") on.add(t.split("/")[1]); });
  await w.subscribeAsync("mcu/+/status");
  const proxy = await countingProxy(port);
  try {
    for (const mac of macs) { const d = new OtaDevice({ storage: new Map(Object.entries(files)) as Map<string, string>, mac }); devs.push(d); await d.power(); }
    const t0 = Date.now();
    while (!ids.every((i) => on.has(i))) {
      if (Date.now() - t0 > 60000) throw new Error(`${ids.filter((i) => !on.has(i)).length} of ${n} devices not online`);
      await new Promise((r) => setTimeout(r, 50));
    }
    proxy.reset();
    const t1 = Date.now();
    const r: any[] = await ota.runOta({
      config: cfgFile, secrets: secFile, broker: `mqtt://127.0.0.1:${proxy.port}`, all: true, version: "2.0.0", log: () => {},
      timeouts: { answer: 15000, chunk: 15000, boot: 60000 },
    });
    const seconds = (Date.now() - t1) / 1000;
    const mine = r.filter((x) => ids.includes(x.id));
    const ok = mine.filter((x) => x.ok && /^updated to version 2\.0\.0/.test(x.verdict)).length;
    return {
      devices: n, updated: ok, found: r.length, failed: mine.filter((x) => !x.ok).map((x) => `${x.id}: ${x.verdict}`).slice(0, 3),
      image: mine[0] ? mine[0].total : null, up: proxy.n.up, down: proxy.n.down, wire: proxy.n.up + proxy.n.down,
      seconds, perDeviceMedianS: median(mine.map((x) => x.ms / 1000)), boots: devs.map((d) => d.boots).reduce((a, b) => a + b, 0),
    };
  } finally {
    proxy.close();
    for (const d of devs) await d.stop();
    // the retained status of these devices would make the next run's --all find them
    for (const i of ids) await w.publishAsync(`mcu/${i}/status`, "", { retain: true });
    await w.endAsync(true);
  }
}

if (outFile) {
  const res: any = { missing: [] as string[], runs: [] as any[] };
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-bench-ota-"));
  try {
    const ota = await import(pathToFileURL(join(ROOT, "build/ota.mjs")).href);
    const mqtt = (await import("mqtt")).default;
    const cfg: any = benchConfig("x", broker.port, { interval: 60, poll: 5, ota: { deadline: 30 } });
    delete cfg.id; // each device's id: its MAC
    const cfgFile = join(dir, "device.json"), secFile = join(dir, "secrets.json");
    writeFileSync(cfgFile, JSON.stringify(cfg));
    writeFileSync(secFile, JSON.stringify({ ota: { key: KEY } }));
    const t = Date.now();
    const v1 = (await ota.buildImage("espruino-linux", { config: cfgFile, secrets: secFile, version: "1.0.0" })).code as string;
    res.buildSeconds = (Date.now() - t) / 1000;
    res.config = "bench/firmware.ts benchConfig (1 digital sensor, 2 actuators, Home Assistant with diagnostics) with \"ota\", no id (each device's MAC)";
    res.board = "espruino-linux";
    res.chunk = (await import(pathToFileURL(join(ROOT, "build/ota-image.mjs")).href)).CHUNK;
    for (const n of quick ? [1, 5] : [1, 20]) {
      console.error(`  ota: ${n} device${n > 1 ? "s" : ""}`);
      res.runs.push(await run(n, broker.port, cfgFile, secFile, v1, ota, mqtt));
    }
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  emit(outFile, res);
}

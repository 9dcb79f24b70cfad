// Updating the simulated board (#15): the example config built as `npm start` builds it, flashed as
// `npm run flash -- --save` would (sim/firmware.ts updateSetup: boot selector + slot 0), booted by
// SimBoard against the embedded broker, and updated by the update command's code (build/ota.mjs runOta)
// with the config and secrets the simulator wrote. The page's state: the board's snapshot (fw) and the
// update as sim/ota.ts follows it on the broker. Real time, real sockets.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { startBroker, type EmbeddedBroker } from "../../sim/broker";
import { buildFirmware, demoSecrets, updateSetup, DEMO_KEY, type UpdateSetup } from "../../sim/firmware";
import { actuatorInfo, sensorInfo } from "../../sim/device";
import { SimBoard } from "../../sim/board";
import { OtaTracker, otaResult } from "../../sim/ota";
import { Logger } from "../../sim/log";
// @ts-ignore: build scripts are plain ESM
import { runOta } from "../../build/ota.mjs";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** the version every build carries (package.json) */
const V1 = JSON.parse(readFileSync("package.json", "utf8")).version as string;
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("OtaTracker: an update as the page shows it, from the messages on the broker", () => {
  const R = "mcu/d";
  const feed = (t: OtaTracker, msgs: [string, any][]) => msgs.map(([s, m]) => t.message(`${R}/${s}`, typeof m == "string" ? m : JSON.stringify(m)));

  it("begin, chunks, finish, reboot, confirmed: progress from the acks, total from the begin", () => {
    const t = new OtaTracker(R, () => 1000);
    feed(t, [["cmd/ota", { q: 1 }], ["ota", { s: "idle", v: "1.0" }], ["cmd/ota", { v: "2.0", b: "esp32", l: 1200, h: "x" }], ["ota", { s: "ready", o: 0 }]]);
    expect(t.view).toMatchObject({ phase: "receiving", to: "2.0", received: 0, total: 1200, version: "1.0", result: null });
    feed(t, [["ota/0", "chunk"], ["ota", { s: "ack", o: 512 }], ["ota", { s: "dup", o: 512 }], ["ota", { s: "ack", o: 1024 }]]);
    expect(t.view).toMatchObject({ phase: "receiving", received: 1024 });
    // a chunk out of place is refused with the offset expected: the sender goes on, the update too
    expect(feed(t, [["ota", { s: "refused", e: "chunk at 0, expected 1024", o: 1024 }]])).toEqual([false]);
    expect(t.view.phase).toBe("receiving");
    feed(t, [["ota", { s: "ack", o: 1200 }], ["cmd/ota", { f: 1 }]]);
    expect(t.view.phase).toBe("verifying");
    feed(t, [["ota", { s: "rebooting", v: "2.0" }]]);
    expect(t.view).toMatchObject({ phase: "rebooting", received: 1200 });
    feed(t, [["status", "online"], ["ota", { s: "updated", v: "2.0", b: "esp32" }]]);
    expect(t.view).toMatchObject({ phase: "idle", version: "2.0", result: { s: "updated", v: "2.0", to: "2.0", at: 1000 } });
    expect(otaResult(t.view.result!)).toBe("updated to 2.0");
  });

  it("a refusal (and why), a rollback, an abort; other devices and topics are not followed", () => {
    const t = new OtaTracker(R);
    feed(t, [["cmd/ota", { v: "2.0", b: "esp32", l: 1200, h: "x" }], ["ota", { s: "refused", e: "no tag: this device takes only images signed with its key" }]]);
    expect(t.view.phase).toBe("idle");
    expect(otaResult(t.view.result!)).toBe("refused: no tag: this device takes only images signed with its key");
    feed(t, [["cmd/ota", { v: "3.0", b: "esp32", l: 600, h: "y" }], ["ota", { s: "ready", o: 0 }], ["ota", { s: "ack", o: 600 }], ["ota", { s: "rebooting", v: "3.0" }], ["ota", { s: "rolled back", v: "1.0" }]]);
    expect(t.view).toMatchObject({ phase: "idle", version: "1.0" });
    expect(otaResult(t.view.result!)).toBe("rolled back to 1.0 (3.0 did not come online)");
    feed(t, [["cmd/ota", { v: "4.0", b: "esp32", l: 600, h: "z" }], ["ota", { s: "ready", o: 0 }], ["cmd/ota", { x: 1 }], ["ota", { s: "aborted" }]]);
    expect(otaResult(t.view.result!)).toBe("aborted (4.0)");
    expect(t.message("mcu/other/ota", JSON.stringify({ s: "ready", o: 0 }))).toBe(false);
    expect(t.message(R + "/ota", "not json")).toBe(false);
    expect(t.message(R + "/telemetry", "{}")).toBe(false);
  });

  it("the terminal log leaves out the chunks and their acknowledgements", () => {
    const out: string[] = [];
    const log = new Logger({ write: (s) => out.push(s), now: () => new Date(0) });
    log.root = R;
    log.mqtt(R + "/ota/512", "var a=1;", false);
    log.mqtt(R + "/ota", '{"s":"ack","o":1024}', false);
    log.mqtt(R + "/ota", '{"s":"ready","o":0}', false);
    expect(out).toHaveLength(1);
    expect(out[0]).toContain('~/ota {"s":"ready","o":0}');
  });
});

describe("updating the simulated board through the embedded broker", () => {
  let dir: string, broker: EmbeddedBroker, board: SimBoard, peer: MqttClient, upd: UpdateSetup;
  const ota = new OtaTracker("mcu/sim-board"), vmLog: string[] = [], status: string[] = [];
  const url = () => `mqtt://127.0.0.1:${broker.port}`;
  const run = (o: any = {}) => runOta({ config: upd.config, secrets: upd.secrets, broker: url(), device: "sim-board", log: () => {}, timeouts: { answer: 4000, chunk: 3000, boot: 25000 }, ...o });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-simota-"));
    broker = await startBroker({ port: 0, wsPort: 0 });
    // the example config, with the shortest deadline for the rollback below
    const raw = JSON.parse(readFileSync("examples/sim.json", "utf8"));
    raw.ota = { deadline: 10 };
    const cfgFile = join(dir, "sim.json");
    writeFileSync(cfgFile, JSON.stringify(raw));
    const secrets = demoSecrets(dir), target = { host: "127.0.0.1", port: broker.port };
    const fw = await buildFirmware({ board: "esp32", configFile: cfgFile, secrets, broker: target, outDir: dir });
    upd = updateSetup({ fw, raw, secretsFile: secrets, broker: target, dir, brokerUrl: url(), id: "sim-board" })!;
    peer = await connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    peer.on("message", (t, p) => { ota.message(t, p.toString()); if (t.endsWith("/status")) status.push(p.toString()); });
    await peer.subscribeAsync("mcu/sim-board/#");
    board = new SimBoard({
      board: "esp32", code: fw.code, storage: upd.storage, sensors: sensorInfo(fw.config, raw), actuators: actuatorInfo(fw.config, raw),
      log: (l) => vmLog.push(l),
    });
    await board.start();
    for (let i = 0; i < 200 && !status.includes("online"); i++) await sleep(25);
  }, 30000);

  afterAll(async () => {
    await board?.stop();
    await peer?.endAsync(true);
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("boots from the boot selector: the package's version in slot 0; the command and its files", () => {
    expect(status).toContain("online");
    expect(board.snapshot().fw).toEqual({ version: V1, bytes: upd.storage.get("mq.f0")!.length - 64, slot: 0, trial: false, rolledBack: false, boots: 1 });
    expect(upd.command).toBe(`npm run ota -- --config ${join(dir, "device.json")} --secrets ${join(dir, "secrets.json")} --broker ${url()} --device sim-board`);
    const cfg = JSON.parse(readFileSync(upd.config, "utf8"));
    expect(cfg.broker).toEqual({ host: "127.0.0.1", port: broker.port, keepalive: 30 });
    expect(JSON.parse(readFileSync(upd.secrets, "utf8"))).toEqual({ ota: { key: DEMO_KEY } });
    expect(statSync(upd.secrets).mode & 0o077).toBe(0);
  });

  it("the command as printed rebuilds this very firmware: already up to date", async () => {
    const r = await run();
    expect(r[0].verdict).toMatch(new RegExp(`^already up to date \\(version ${re(V1)}, sha256 `));
    expect(ota.view.version).toBe(V1);
  }, 30000);

  it("with --version 0.2.0: sent, verified, rebooted into slot 1, confirmed; the page's state says so", async () => {
    status.length = 0;
    const r = await run({ version: "0.2.0" });
    expect(r[0].verdict).toMatch(/^updated to version 0\.2\.0/);
    const s = board.snapshot();
    expect(s.fw).toMatchObject({ version: "0.2.0", slot: 1, trial: false, rolledBack: false, boots: 2 });
    expect(s.fw.bytes).toBe(r[0].total);
    expect(s.diag.rebooted).toBe(1);
    expect(ota.view).toMatchObject({ phase: "idle", received: r[0].total, total: r[0].total, to: "0.2.0", version: "0.2.0", result: { s: "updated", v: "0.2.0" } });
    expect(board.emu.uncaught).toEqual([]);
    // the reboot ends with a DISCONNECT: no "offline" from the broker (aedes 1.x does not pass the new
    // image's retained "online" on to this subscriber, Mosquitto does: test/integration/ota.test.ts)
    expect(status).not.toContain("offline");
  }, 40000);

  it("an image that never comes online (its broker port is wrong) is rolled back after 10 s", async () => {
    const cfg = JSON.parse(readFileSync(upd.config, "utf8"));
    cfg.broker.port = 1;
    writeFileSync(upd.config, JSON.stringify(cfg));
    const r = await run({ version: "0.3.0" });
    expect(r[0].verdict).toMatch(/^rolled back to version 0\.2\.0/);
    expect(vmLog.join("\n")).toMatch(/did not confirm: rollback/);
    const s = board.snapshot();
    expect(s.fw).toMatchObject({ version: "0.2.0", slot: 1, trial: false, rolledBack: true, boots: 4 });
    expect(otaResult(ota.view.result!)).toBe("rolled back to 0.2.0 (0.3.0 did not come online)");
  }, 60000);
});

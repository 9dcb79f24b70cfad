// Updates over MQTT (#15): the BUILT espruino-linux firmware in the Espruino emulation, booted as a saved
// board is (the boot selector in .bootcde, the image in a Storage slot: build/ota-image.mjs), updated by
// the update command's code (build/ota.mjs runOta) through a real Mosquitto. Real time.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, MqttClient } from "mqtt";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { OtaDevice } from "../../emu/saved-board";
import { otaConfig } from "../helpers/ota-config";
// @ts-ignore: build scripts are plain ESM
import { buildImage, parseOtaArgs, runOta } from "../../build/ota.mjs";
// @ts-ignore
import { flashFiles, digest, tag, CHUNK } from "../../build/ota-image.mjs";

// (the key XOR the HMAC pads has NUL bytes: "6" ^ 0x36, "\\" ^ 0x5c)
const ID = "ota" + process.pid, KEY = "a-test-key-6\\-of-24-chars";
const until = async (pred: () => boolean, ms: number, what: string) => {
  const t0 = Date.now();
  while (!pred()) { if (Date.now() - t0 > ms) throw new Error("timed out: " + what); await new Promise((r) => setTimeout(r, 20)); }
};

describe("npm run ota: arguments", () => {
  it("needs a config, a broker, and one of --device / --all", () => {
    expect(() => parseOtaArgs(["--broker", "mqtt://h"])).toThrow(/--config is required/);
    expect(() => parseOtaArgs(["--config", "d.json", "--device", "x"])).toThrow(/--broker is required/);
    expect(() => parseOtaArgs(["--config", "d.json", "--broker", "mqtt://h"])).toThrow(/give --device ID or --all/);
    expect(() => parseOtaArgs(["--config", "d.json", "--broker", "mqtt://h", "--device", "a", "--all"])).toThrow(/give --device ID or --all/);
    expect(() => parseOtaArgs(["--config", "d.json", "--broker", "mqtt://h", "--all", "--force"])).toThrow(/unknown argument --force/);
    expect(parseOtaArgs(["--config", "d.json", "--broker", "mqtt://h", "--all", "--dry-run", "--version", "2.1.0"]))
      .toMatchObject({ config: "d.json", broker: "mqtt://h", all: true, dryRun: true, version: "2.1.0", device: null });
  });
});

describe.skipIf(!hasMosquitto)("updates over MQTT: the built firmware in the emulation, through Mosquitto", () => {
  let broker: Mosquitto, dir: string, cfgFile: string, secFile: string, v1: string, obs: MqttClient;
  const answers: any[] = [], errors: any[] = [];
  let dev: OtaDevice | null = null;

  const config = (extra: any = {}) => otaConfig(ID, broker.port, extra);
  const opts = (o: any = {}) => ({ config: cfgFile, secrets: secFile, broker: `mqtt://127.0.0.1:${broker.port}`, device: ID, log: () => {}, timeouts: { answer: 4000, chunk: 3000, boot: 25000 }, ...o });

  /** a device flashed with v1 (npm run flash -- --save writes the same files) */
  async function flashed(o: Partial<ConstructorParameters<typeof OtaDevice>[0]> = {}) {
    const storage = new Map(Object.entries(flashFiles(v1, { key: KEY, version: "1.0.0", deadlineMs: 10000 }))) as Map<string, string>;
    dev = new OtaDevice({ storage, ...o });
    await dev.power();
    await until(() => answers.some((a) => a.s === "online"), 10000, "online");
    return dev;
  }
  const online = () => answers.filter((a) => a.s === "online").length;

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), "mq-ota-"));
    cfgFile = join(dir, "device.json");
    secFile = join(dir, "secrets.json");
    writeFileSync(cfgFile, config());
    writeFileSync(secFile, JSON.stringify({ ota: { key: KEY } }));
    v1 = (await buildImage("espruino-linux", { config: cfgFile, secrets: secFile, version: "1.0.0" })).code;
    obs = await connectAsync(`mqtt://127.0.0.1:${broker.port}`);
    obs.on("message", (t, p) => {
      if (t.endsWith("/status")) { if (p.toString() === "online") answers.push({ s: "online" }); return; }
      const m = JSON.parse(p.toString());
      (t.endsWith("/error") ? errors : answers).push(m);
    });
    await obs.subscribeAsync([`mcu/${ID}/ota`, `mcu/${ID}/status`, `mcu/${ID}/error`]);
  }, 60000);
  afterEach(async () => {
    if (dev) await dev.stop();
    dev = null;
    answers.length = errors.length = 0;
    writeFileSync(cfgFile, config());
  });
  afterAll(async () => {
    await obs?.endAsync();
    broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a full update: sent in chunks, verified, switched, rebooted, confirmed; the next boots keep it", async () => {
    const d = await flashed();
    const r = await runOta(opts({ version: "2.0.0" }));
    expect(r).toHaveLength(1);
    expect(r[0].verdict).toMatch(/^updated to version 2\.0\.0/);
    expect(r[0].ok).toBe(true);
    const v2 = (await buildImage("espruino-linux", { config: cfgFile, secrets: secFile, version: "2.0.0" })).code;
    expect(JSON.parse(d.storage.get("mq.m1")!)).toEqual({ g: 1, v: "2.0.0", l: v2.length, h: digest(v2, "sha256") });
    expect(d.storage.get("mq.f1")!.substr(64)).toBe(v2);
    expect(d.storage.get("mq.k1")).toBe("1");
    expect(answers.map((a) => a.s).filter((s) => s !== "ack")).toEqual(["online", "idle", "ready", "rebooting", "online", "updated"]);
    expect(answers.filter((a) => a.s === "ack").map((a) => a.o)).toEqual(Array.from({ length: Math.ceil(v2.length / CHUNK) }, (_, i) => Math.min((i + 1) * CHUNK, v2.length)));
    expect(d.boots).toBe(2);
    // a power cut now: it boots the new image again
    await d.cut();
    answers.length = 0;
    await d.power();
    await until(() => online() > 0, 10000, "online after a power cycle");
    const again = await runOta(opts({ version: "2.0.0" }));
    expect(again[0].verdict).toMatch(/^already up to date \(version 2\.0\.0/);
    expect(d.uncaught).toEqual([]);
    expect(errors).toEqual([]);
  }, 90000);

  it("--all finds the devices online under the base; --dry-run builds and asks, sends nothing; progress lines and verdicts", async () => {
    const d = await flashed();
    const lines: string[] = [];
    // a device that went away: its retained status says offline; --all reports it unreachable
    const ghost = "gone" + process.pid;
    await obs.publishAsync(`mcu/${ghost}/status`, "offline", { retain: true, qos: 1 });
    const r = await runOta(opts({ device: null, all: true, dryRun: true, version: "2.5.0", log: (l: string) => lines.push(l) }));
    await obs.publishAsync(`mcu/${ghost}/status`, "", { retain: true, qos: 1 });
    expect(r.find((x: any) => x.id === ghost)).toMatchObject({ ok: false, verdict: `unreachable: no answer on mcu/${ghost}/ota (it is offline)` });
    expect(lines).toContain("2 device(s) under mcu/, 1 online");
    const mine = r.find((x: any) => x.id === ID)!;
    expect(mine.verdict).toMatch(/^would update from 1\.0\.0 to 2\.5\.0: \d+ B for espruino-linux in \d+ chunks \(dry run: nothing sent\)/);
    expect(answers.map((a) => a.s)).toEqual(["online", "idle"]);
    expect(d.storage.has("mq.f1")).toBe(false);
    // the real thing: one progress line per step with bytes, rate and state, then the verdict
    lines.length = 0;
    const u = await runOta(opts({ device: null, all: true, version: "2.5.0", log: (l: string) => lines.push(l) }));
    expect(u.find((x: any) => x.id === ID)!.verdict).toMatch(/^updated to version 2\.5\.0/);
    const mineLines = lines.filter((l) => l.startsWith(ID + ": "));
    expect(mineLines[0]).toMatch(/: 0\/\d+ B updating 1\.0\.0 -> 2\.5\.0$/);
    expect(mineLines.some((l) => / \d+\/\d+ B [\d.]+ KB\/s sending$/.test(l))).toBe(true);
    expect(mineLines[mineLines.length - 1]).toMatch(/: updated to version 2\.5\.0 \(sha256 [0-9a-f]{8}\)$/);
  }, 90000);

  it("a new image that never comes online is rolled back at the deadline; the failed record is dropped", async () => {
    const d = await flashed();
    // an image whose config points at a broker that is not there: it runs, but never comes online
    writeFileSync(cfgFile, config({ broker: { host: "127.0.0.1", port: 1, keepalive: 10 } }));
    const r = await runOta(opts({ version: "3.0.0" }));
    expect(r[0].verdict).toMatch(/^rolled back to version 1\.0\.0/);
    expect(d.lines.join("\n")).toMatch(/did not confirm: rollback/);
    expect(d.storage.has("mq.m1")).toBe(false); // the failed record was dropped
    expect(answers.map((a) => a.s)).toContain("rolled back");
  }, 90000);
});

// Updates over MQTT (#15), the faults: the BUILT espruino-linux firmware in the Espruino emulation, booted
// from Storage by the boot selector (emu/saved-board.ts), through a real Mosquitto, with a
// fault proxy (test/helpers/fault-proxy.ts) between the device and the broker. The update command's code
// (build/ota.mjs runOta) sends where the sender's behaviour is under test; bad inputs are sent by hand
// with mqtt.js. Real time.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, MqttClient } from "mqtt";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { startFaultProxy, FaultProxy } from "../helpers/fault-proxy";
import { OtaDevice, OtaDeviceOptions } from "../../emu/saved-board";
import { otaConfig } from "../helpers/ota-config";
// @ts-ignore: build scripts are plain ESM
import { buildImage, runOta } from "../../build/ota.mjs";
// @ts-ignore
import { flashFiles, digest, tag, CHUNK, HEADER } from "../../build/ota-image.mjs";

const ID = "otaf" + process.pid, KEY = "a-test-key-of-24-chars!!", B = `mcu/${ID}/`;
const until = async (pred: () => boolean, ms: number, what: string) => {
  const t0 = Date.now();
  while (!pred()) { if (Date.now() - t0 > ms) throw new Error("timed out: " + what); await new Promise((r) => setTimeout(r, 10)); }
};

describe.skipIf(!hasMosquitto)("updates over MQTT, the faults: the built firmware in the emulation, through a proxy and Mosquitto", () => {
  let broker: Mosquitto, px: FaultProxy, dir: string, cfgFile: string, secFile: string, v1: string, v2: string, obs: MqttClient;
  /** the device's answers on <base>/<id>/ota (and {s: "online"} for each online status), its error
   *  reports, its relay states */
  const answers: any[] = [], errors: any[] = [], states: string[] = [];
  let dev: OtaDevice | null = null;

  const config = (extra: any = {}) => otaConfig(ID, px.port, extra);
  const opts = (o: any = {}) => ({ config: cfgFile, secrets: secFile, broker: `mqtt://127.0.0.1:${broker.port}`, device: ID, log: () => {}, timeouts: { answer: 3000, chunk: 2000, boot: 25000 }, ...o });

  /** an answer on the ota topic after `mark` (answers.length then) */
  let wake: (() => void) | null = null, tap: ((a: any) => void) | null = null;
  /** (null: stop() became true first) */
  async function answer(mark: number, ms = 5000, stop?: () => boolean, s?: string) {
    const t0 = Date.now(), got = () => answers.slice(mark).find((a) => a.s !== "online" && (!s || a.s === s));
    while (!got()) {
      if (stop && stop()) return null;
      if (Date.now() - t0 > ms) throw new Error("timed out: an answer on " + B + "ota");
      await new Promise<void>((r) => { const t = setTimeout(r, 50); wake = () => { clearTimeout(t); r(); }; });
    }
    return got();
  }
  /** publish (QoS 1) and wait for the device's answer */
  async function ask(topic: string, payload: string, stop?: () => boolean) {
    const mark = answers.length;
    await obs.publishAsync(B + topic, Buffer.from(payload, "latin1"), { qos: 1 });
    return answer(mark, 5000, stop);
  }
  const chunk = (img: string, off: number, stop?: () => boolean) => ask("ota/" + off, img.substr(off, CHUNK), stop);
  const begin = (img: string, o: any = {}, stop?: () => boolean) => ask("cmd/ota", JSON.stringify({ v: "2.0.0", b: "espruino-linux", l: img.length, h: digest(img, "sha256"), t: tag(img, KEY), ...o }), stop);
  /** the image's chunks from `from`, each after the ack of the one before */
  async function send(img: string, from = 0, to = img.length) {
    for (let off = from; off < to; off += CHUNK) expect(await chunk(img, off)).toEqual({ s: "ack", o: Math.min(off + CHUNK, img.length) });
  }

  /** booted after `mark`: online, then what it runs ({"q":1}) */
  async function booted(mark: number) {
    await until(() => answers.slice(mark).some((a) => a.s === "online"), 15000, "online");
    // (its answer; what it says at each connect, updated or rolled back, may come first)
    const m = answers.length;
    await obs.publishAsync(B + "cmd/ota", '{"q":1}', { qos: 1 });
    return answer(m, 5000, undefined, "idle");
  }

  /** a device flashed with v1 (as npm run flash -- --save), online */
  async function flashed(o: Partial<OtaDeviceOptions> = {}) {
    const storage = new Map(Object.entries(flashFiles(v1, { key: KEY, version: "1.0.0", deadlineMs: 10000 }))) as Map<string, string>;
    dev = new OtaDevice({ storage, ...o });
    const mark = answers.length;
    await dev.power();
    await until(() => answers.slice(mark).some((a) => a.s === "online"), 10000, "online");
    return dev;
  }

  beforeAll(async () => {
    broker = await startMosquitto();
    px = await startFaultProxy({ port: broker.port, record: false });
    dir = mkdtempSync(join(tmpdir(), "mq-otaf-"));
    cfgFile = join(dir, "device.json");
    secFile = join(dir, "secrets.json");
    writeFileSync(cfgFile, config());
    writeFileSync(secFile, JSON.stringify({ ota: { key: KEY } }));
    v1 = (await buildImage("espruino-linux", { config: cfgFile, secrets: secFile, version: "1.0.0" })).code;
    v2 = (await buildImage("espruino-linux", { config: cfgFile, secrets: secFile, version: "2.0.0" })).code;
    obs = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 200 });
    obs.on("message", (t, p) => {
      if (t.endsWith("/status")) { if (p.toString() === "online") answers.push({ s: "online" }); return; }
      if (t.endsWith("/state/relay")) { states.push(p.toString()); return; }
      const m = JSON.parse(p.toString());
      (t.endsWith("/error") ? errors : answers).push(m);
      if (tap && !t.endsWith("/error")) tap(m);
      if (wake) wake();
    });
    await obs.subscribeAsync([B + "ota", B + "status", B + "error", B + "state/relay"], { qos: 1 });
  }, 60000);
  afterEach(async () => {
    if (dev) await dev.stop();
    dev = null;
    answers.length = errors.length = states.length = 0;
    tap = null;
    px.set({ cut: null, blackhole: false });
  });
  afterAll(async () => {
    await obs?.endAsync();
    await px?.stop();
    broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });


  it("the device's link cut after every 10th chunk: the sender begins again, the device goes on where it is; updated", async () => {
    const d = await flashed();
    const chunks = Math.ceil(v2.length / CHUNK);
    let kills = 0;
    // (the observer sees each acknowledgement as the sender does: the 10th, 20th... cuts the link)
    tap = (a) => { if (a.s === "ack" && a.o < v2.length && a.o % (10 * CHUNK) === 0) { kills++; px.killAll(); } };
    const r = await runOta(opts({ version: "2.0.0" }));
    expect(r[0].verdict).toMatch(/^updated to version 2\.0\.0 /);
    expect(kills).toBe(Math.floor((chunks - 1) / 10));
    expect(d.storage.get("mq.f1")!.substr(HEADER)).toBe(v2);
    expect(JSON.parse(d.storage.get("mq.m1")!)).toEqual({ g: 1, v: "2.0.0", l: v2.length, h: digest(v2, "sha256") });
    // each cut: the device came back, and the sender's begin found it where it was (resumed, not again from 0)
    const seq = answers.filter((a) => a.s !== "ack");
    expect(seq.filter((a) => a.s === "online")).toHaveLength(1 + kills + 1);
    expect(seq.filter((a) => a.s === "ready").map((a) => a.o)).toEqual([0, ...Array.from({ length: kills }, (_, i) => (i + 1) * 10 * CHUNK)]);
    expect(d.boots).toBe(2);
    expect(d.uncaught).toEqual([]);
    expect(errors).toEqual([]);
  }, 60000);

  it("the broker restarted mid-update: both sides reconnect, the sender resumes; updated", async () => {
    const d = await flashed();
    let restart: Promise<void> | null = null;
    tap = (a) => { if (a.s === "ack" && a.o === 20 * CHUNK && !restart) restart = broker.restart(); };
    const r = await runOta(opts({ version: "2.0.0" }));
    await restart;
    expect(restart).not.toBeNull();
    expect(r[0].verdict).toMatch(/^updated to version 2\.0\.0 /);
    expect(d.storage.get("mq.f1")!.substr(HEADER)).toBe(v2);
    // (it resumed where the device was: 20 chunks in, or one more that passed before the broker went)
    const ready = answers.filter((a) => a.s === "ready").map((a) => a.o);
    expect(ready).toHaveLength(2);
    expect(ready[1]).toBeGreaterThanOrEqual(20 * CHUNK);
    expect(ready[1]).toBeLessThan(v2.length);
    expect(d.uncaught).toEqual([]);
  }, 60000);

  it("a new image that throws at boot: the selector reboots, rolls it back, and the old one says so", async () => {
    const d = await flashed();
    const r = await runOta(opts({ version: "3.0.0", image: "throw new Error('boom');\n" + v2 }));
    expect(r[0].verdict).toMatch(/^rolled back to version 1\.0\.0/);
    expect(r[0].ok).toBe(false);
    expect(d.lines.join("\n")).toMatch(/mq: image 1 threw: Error: boom/);
    expect(d.storage.has("mq.m1")).toBe(false); // the failed record was dropped
    expect(d.storage.get("mq.t1")).toBe("1"); // (its trial was used up)
    expect(answers.map((a) => a.s)).toContain("rolled back");
    expect(d.boots).toBe(3); // v1, the trial that threw, v1 again
    const mark = answers.length;
    expect(await ask("cmd/ota", '{"q":1}')).toMatchObject({ s: "idle", v: "1.0.0", h: digest(v1, "sha256") });
    expect(mark).toBeLessThan(answers.length);
  }, 60000);

  it("a power cut at every Storage operation of an update, some in the middle of a write: it boots a working image, the old one or the new one as the point implies", async () => {
    // the device's Storage operations on the update's files (mq.*), counted from the begin; the cut
    // points: operation number -> the bytes of that write that reached the flash (0: none)
    let n = 0, hits = 0, cuts = new Map<number, number>(), d: OtaDevice | null = null;
    const ops: string[] = [];
    const onStorage = (op: string, name: string, off: number, data: string | null) => {
      if (!name.startsWith("mq.")) return;
      n++;
      ops.push(op === "e" ? "e " + name : `w ${name} ${off} ${data!.length}`);
      const c = cuts.get(n);
      if (c !== undefined) { hits++; return c; }
    };
    /** an update by hand with these cuts (and a power cut once the record is written, before the
     *  reboot); after each cut the power comes back. What the last boot runs, and what it said. */
    async function update(plan: [number, number][], afterRecord = false) {
      if (!d) dev = d = await flashed({ onStorage });
      n = hits = 0;
      cuts = new Map(plan);
      ops.length = 0;
      const stop = () => hits > 0;
      let mark = answers.length, a = await begin(v2, {}, stop);
      if (a) expect(a).toEqual({ s: "ready", o: 0 });
      for (let off = 0; a && off < v2.length; off += CHUNK) {
        a = await chunk(v2, off, stop);
        if (a) expect(a).toEqual({ s: "ack", o: Math.min(off + CHUNK, v2.length) });
      }
      if (a) a = await ask("cmd/ota", '{"f":1}', stop);
      if (a) expect(a).toEqual({ s: "rebooting", v: "2.0.0" });
      mark = answers.length;
      if (a && afterRecord) { expect(a.s).toBe("rebooting"); await d.cut(); }
      for (let i = 1; i <= plan.length; i++) {
        await until(() => hits >= i, 15000, `cut ${i} at operation ${plan[i - 1][0]}`);
        await d.halted();
        expect(d.emu.powerCut).toBe(true);
        mark = answers.length;
        await d.power();
      }
      if (afterRecord) { mark = answers.length; await d.power(); }
      const q = await booted(mark), said = answers.slice(mark).map((x) => x.s).filter((s) => s !== "online" && s !== "idle");
      expect(d.uncaught).toEqual([]);
      if (q.v === "2.0.0") { await d.stop(); dev = d = null; } // (the next one starts from v1 again)
      return { v: q.v, h: q.h, said };
    }
    const OLD = { v: "1.0.0", h: digest(v1, "sha256"), said: [] }, NEW = { v: "2.0.0", h: digest(v2, "sha256"), said: ["updated"] };

    // without a cut: the operations, in order
    expect(await update([])).toEqual(NEW);
    const chunks = Math.ceil(v2.length / CHUNK), record = JSON.stringify({ g: 1, v: "2.0.0", l: v2.length, h: digest(v2, "sha256") });
    expect(ops).toEqual([
      "e mq.m1", "e mq.k1", "e mq.t1", "e mq.f1", // the begin: the other slot cleared
      `w mq.f1 0 ${HEADER}`, // the slot file created (its size), its header
      ...Array.from({ length: chunks }, (_, i) => `w mq.f1 ${HEADER + i * CHUNK} ${Math.min(CHUNK, v2.length - i * CHUNK)}`),
      `w mq.m1 -1 ${record.length}`, // the finish: the switch
      "w mq.t1 -1 1", // the trial boot: the selector's marker
      "w mq.k1 -1 1", // the new image online: its confirmation
    ]);
    const REC = ops.length - 2, T = ops.length - 1, K = ops.length;

    // each operation up to the switch, cut before its first byte: the old image
    for (let at = 1; at <= REC; at++) expect([at, await update([[at, 0]])]).toEqual([at, OLD]);
    // in the middle of a write: the slot's header, its first, a middle and its last chunk, the record
    for (const [at, bytes] of [[5, 30], [6, 200], [6 + (chunks >> 1), 1], [REC - 1, Math.max(1, (v2.length - (chunks - 1) * CHUNK) >> 1)], [REC, 10]])
      expect([at, bytes, await update([[at, bytes]])]).toEqual([at, bytes, OLD]);
    // the record written, the power gone before the reboot: the new image, on trial, confirms
    expect(await update([], true)).toEqual(NEW);
    // the trial marker not written: the selector tries the new image again, it confirms
    expect(await update([[T, 0]])).toEqual(NEW);
    // the marker written, the power gone before the image ran: that trial is used up, rolled back
    expect(await update([[T, 1]])).toEqual({ ...OLD, said: ["rolled back"] });
    // the new image's confirmation not written: rolled back at the next boot ...
    expect(await update([[K, 0]])).toEqual({ ...OLD, said: ["rolled back"] });
    // ... also when the power goes again as the selector erases the failed record
    expect(await update([[K, 0], [K + 1, 0]])).toEqual({ ...OLD, said: ["rolled back"] });
    expect(ops.slice(K)).toEqual(["e mq.m1", "e mq.m1"]);
    // the confirmation written: the new image, for good
    expect(await update([[K, 1]])).toEqual({ ...NEW, said: [] });
  }, 150000);

  // (16 KB: a 1 MB ESP8266's Storage, which this image, 20 KB, does not even fit: the emulation holds it
  // anyway, and its free space reads 0; 32 KB: room for one image, not for two)
  it.each([16384, 32768])("an ESP8266 with %i bytes of Storage: no room for a second image, refused before anything is written; the verdict says so", async (bytes) => {
    const cfg8266 = join(dir, "esp8266.json"), sec8266 = join(dir, "esp8266-secrets.json");
    writeFileSync(cfg8266, config({ wifi: { ssid: "ap" } }));
    writeFileSync(sec8266, JSON.stringify({ ota: { key: KEY }, wifi: { password: "pw-123" } }));
    const img = (await buildImage("esp8266", { config: cfg8266, secrets: sec8266, version: "1.0.0" })).code;
    // (its digest is CRC-32 and its tag HMAC-SHA1: that build's crypto has SHA-1 only)
    const storage = new Map(Object.entries(flashFiles(img, { key: KEY, version: "1.0.0", alg: "crc32", deadlineMs: 10000 }))) as Map<string, string>;
    const before = new Map(storage), writes: string[] = [];
    dev = new OtaDevice({ board: "esp8266", storage, storageBytes: bytes, onStorage: (op, name) => { if (name.startsWith("mq.")) writes.push(op + " " + name); } });
    let mark = answers.length;
    await dev.power();
    await until(() => answers.slice(mark).some((a) => a.s === "online"), 10000, "online");
    const r = await runOta({ ...opts({ version: "2.0.0" }), config: cfg8266, secrets: sec8266 });
    expect(r[0].ok).toBe(false);
    let used = 0;
    for (const [k, v] of before) used += k.length + v.length + 32; // (the emulation's count: 32 bytes of header a file)
    expect(r[0].verdict).toBe(`refused: no room for a second image: ${img.length + 512} bytes needed, ${Math.max(0, bytes - used)} free`);
    expect(answers.find((a) => a.s === "idle")).toMatchObject({ v: "1.0.0", b: "esp8266", d: "crc32", k: "sha1", h: digest(img, "crc32") });
    await until(() => errors.length > 0, 5000, "the report on " + B + "error");
    expect(errors[0].error).toMatch(/^no room for a second image/);
    expect(writes).toEqual([]);
    expect(storage).toEqual(before);
    // it runs on
    mark = answers.length;
    await dev.cut();
    await dev.power();
    expect(await booted(mark)).toMatchObject({ v: "1.0.0", b: "esp8266" });
    expect(dev.uncaught).toEqual([]);
  }, 60000);

  describe("bad inputs, sent by hand: each refused with its reason, the running firmware untouched", () => {
    // one device for them all; each case ends with a power cycle into the old image
    let d: OtaDevice;
    /** the slot file's writes (offset, length) since the case began */
    const writes: [string, number, number][] = [];
    // a short image (3 chunks): refused before it could ever run
    let img: string, relay = 0;
    beforeAll(async () => {
      img = v2.substring(0, 2 * CHUNK + 100);
      d = await flashed({ onStorage: (op, name, off, data) => { if (op === "w") writes.push([name, off, data!.length]); } });
      dev = null; // (kept across the cases)
    }, 30000);
    afterAll(async () => { await d?.stop(); });

    /** the old image runs on: its slot and record as flashed, no record for the other slot, it obeys a
     *  command, and it boots again into the old image */
    async function untouched() {
      const f = flashFiles(v1, { key: KEY, version: "1.0.0", deadlineMs: 10000 });
      expect(d.storage.get("mq.f0") === f["mq.f0"]).toBe(true);
      expect(d.storage.get("mq.m0")).toBe(f["mq.m0"]);
      expect(d.storage.has("mq.m1")).toBe(false);
      expect(writes.filter((w) => !w[0].startsWith("mq.f1"))).toEqual([]);
      const v = ++relay % 2 ? "ON" : "OFF", s0 = states.length;
      await obs.publishAsync(B + "cmd/relay", v, { qos: 1 });
      await until(() => states.slice(s0).includes(v), 5000, "state/relay " + v);
      await d.cut();
      const mark = answers.length;
      await d.power();
      expect(await booted(mark)).toMatchObject({ s: "idle", v: "1.0.0", h: digest(v1, "sha256") });
      expect(d.storage.has("mq.m1")).toBe(false);
      expect(d.uncaught).toEqual([]);
    }
    /** `a` is a refusal for `why`, also reported on the error topic */
    async function refused(a: any, why: RegExp) {
      expect(a.s).toBe("refused");
      expect(a.e).toMatch(why);
      await until(() => errors.length > 0, 5000, "the report on " + B + "error");
      expect(errors).toEqual([{ ota: "update", error: a.e }]);
    }
    const finish = () => ask("cmd/ota", '{"f":1}');
    afterEach(() => { writes.length = 0; });

    it("a chunk out of order: refused with the offset expected; the update waits there", async () => {
      expect(await begin(img)).toEqual({ s: "ready", o: 0 });
      const a = await chunk(img, CHUNK);
      await refused(a, /^chunk at 512, expected 0$/);
      expect(a.o).toBe(0);
      // (the slot file was created by the begin; no chunk was written)
      expect(writes.map((w) => w[1])).toEqual([0]);
      expect(await chunk(img, 0)).toEqual({ s: "ack", o: CHUNK });
      await untouched();
    });

    it("a duplicate chunk: acknowledged as a dup with the next offset, not written twice", async () => {
      expect(await begin(img)).toEqual({ s: "ready", o: 0 });
      await send(img, 0, 2 * CHUNK);
      expect(await chunk(img, 0)).toEqual({ s: "dup", o: 2 * CHUNK });
      expect(await chunk(img, CHUNK)).toEqual({ s: "dup", o: 2 * CHUNK });
      // the header once, each chunk once (Espruino's Storage throws on a region written twice)
      expect(writes.map((w) => [w[1], w[2]])).toEqual([[0, HEADER], [HEADER, CHUNK], [HEADER + CHUNK, CHUNK]]);
      expect(d.storage.get("mq.f1")!.substr(HEADER, 2 * CHUNK)).toBe(img.substr(0, 2 * CHUNK));
      expect(errors).toEqual([]);
      expect(await ask("cmd/ota", '{"x":1}')).toEqual({ s: "aborted" });
      expect(d.storage.has("mq.f1")).toBe(false);
      await untouched();
    });

    it("a truncated image (finish before all its bytes): refused, the partial slot erased", async () => {
      expect(await begin(img)).toEqual({ s: "ready", o: 0 });
      await send(img, 0, 2 * CHUNK);
      await refused(await finish(), new RegExp(`^truncated: 1024 of ${img.length} bytes$`));
      expect(d.storage.has("mq.f1")).toBe(false);
      await untouched();
    });

    it("a wrong digest: refused at the finish, the slot erased", async () => {
      expect(await begin(img, { h: digest(img + "x", "sha256") })).toEqual({ s: "ready", o: 0 });
      await send(img);
      await refused(await finish(), /^wrong digest$/);
      expect(d.storage.has("mq.f1")).toBe(false);
      await untouched();
    });

    it("a wrong tag (signed with another key): refused at the finish, the slot erased", async () => {
      expect(await begin(img, { t: tag(img, "another-key-of-24-chars!") })).toEqual({ s: "ready", o: 0 });
      await send(img);
      await refused(await finish(), /^wrong tag: not signed with this device's key$/);
      expect(d.storage.has("mq.f1")).toBe(false);
      await untouched();
    });

    it("an image for another board: refused at the begin, nothing written", async () => {
      await refused(await begin(img, { b: "esp32" }), /^the image is for board esp32, this is espruino-linux$/);
      expect(writes).toEqual([]);
      // (nor does a finish find anything to switch to)
      errors.length = 0;
      await refused(await finish(), /^no update under way$/);
      await untouched();
    });

    it("the begin of another image while one runs: refused, the one under way goes on", async () => {
      expect(await begin(img)).toEqual({ s: "ready", o: 0 });
      await send(img, 0, CHUNK);
      const other = v1.substring(0, 3000);
      await refused(await begin(other, { v: "9.9.9" }), new RegExp(`^another update is under way \\(2\\.0\\.0, 512 of ${img.length} bytes\\)$`));
      expect(await chunk(img, CHUNK)).toEqual({ s: "ack", o: 2 * CHUNK });
      expect(d.storage.get("mq.f1")!.substr(HEADER, 2 * CHUNK)).toBe(img.substr(0, 2 * CHUNK));
      await untouched();
    });
  });
});

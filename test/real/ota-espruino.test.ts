// Updates over MQTT (#15) on the REAL Espruino (2v29 for Linux, the ESP8266-faithful build: 32-bit,
// 1,600 blocks of 12 bytes; emu/real.ts), the built espruino-linux firmware, a real Mosquitto and the
// update command's code (build/ota.mjs runOta). Storage is staged as `npm run flash -- --save` leaves it
// (build/ota-image.mjs flashFiles: the boot selector as .bootcde, image 1.0.0 in slot 0), and every boot
// is a new interpreter process on the same ./espruino.flash: E.reboot() on Linux prints "Not implemented"
// and exits with code 1 (it does not restart), so the test starts the interpreter again on that
// directory, as the chip would boot again. Skipped unless MQTT_MCU_ESPRUINO_1600 names the interpreter.
//   - a full update: sent, verified, switched, exit at E.reboot, the next boot runs 2.0.0 and confirms
//   - a rollback: 3.0.0 points at a broker port where nothing listens; the selector's deadline passes,
//     it reboots (exit), the next boot runs 1.0.0 again and says "rolled back"
//   - the blocks in use during an update: the budget is <= 1,300; measured for the small config
//     of test/integration/ota.test.ts and for the issue #14 firmware config (bench/firmware.ts
//     benchConfig: a digital sensor, two actuators, Home Assistant with diagnostics) with "ota" added
//
// How memory is read: a sampler saved as ".boot1" (Espruino runs .boot0-3 before .bootcde, so at every
// boot, before the selector and the firmware). It wraps Storage.write (require("Storage") is one cached
// object: the firmware's Board.ota.fs is the same one), so it samples inside the firmware's chunk
// handler, where the chunk, the broker's packet and the handler's locals are all alive, at every write
// of the update (begin, each chunk, the record); and a 20 ms interval samples between events.
// `process.memory(false).usage` (no garbage collection: Espruino frees by reference count, so this is
// what is held). It prints "@@P <peak since boot> <peak since the first Storage write> <writes>" when a
// peak rises, and "@@U <usage after a GC>" every second (steady figures). Its own blocks are printed at
// install ("@@S <before> <after>") and taken off the figures reported as "net".
//
// RT_DUMP=<dir> writes every boot's console there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EspruinoBoard, espruinoVersion, interpreters } from "../../emu/real";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { benchConfig, WIFI_STANDIN } from "../../bench/firmware";
// @ts-ignore: build scripts are plain ESM
import { buildImage, runOta } from "../../build/ota.mjs";
// @ts-ignore
import { flashFiles } from "../../build/ota-image.mjs";

const exe = interpreters.espruino1600;
// (a "6" in the key: XOR the inner pad it is a NUL in the slot header, which must be hashed like any byte)
const KEY = "real-test-key-6-of-24ch!", BUDGET = 1300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** the memory sampler, saved as .boot1 (see the top) */
const SAMPLER = `var MQP={p:0,u:0,n:0,q:""};(function(){var a=process.memory().usage,S=require("Storage"),w=S.write;
function m(){var u=process.memory(false).usage;if(u>MQP.p)MQP.p=u;if(MQP.n&&u>MQP.u)MQP.u=u;}
S.write=function(a,b,c,d){MQP.n++;m();return w.call(S,a,b,c,d);};
var j=JSON.stringify;JSON.stringify=function(a){m();return j(a);};
setInterval(function(){m();var s=MQP.p+" "+MQP.u+" "+MQP.n;if(s!=MQP.q){MQP.q=s;print("@@P "+s);}},20);
setInterval(function(){print("@@U "+process.memory().usage);},1000);
print("@@S "+a+" "+process.memory().usage);})();
`;

/** One updatable device: its Storage directory, and an interpreter per boot. When a boot ends with
 *  E.reboot() (exit code 1 after "Not implemented") the next one starts on the same directory. */
class Device {
  boards: EspruinoBoard[] = [];
  exits: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  readonly dir: string;

  constructor(files: Record<string, string>) {
    const b = EspruinoBoard.start(exe!, files, { control: false });
    this.dir = b.dir;
    this.boards.push(b);
    this.timer = setInterval(() => this.watch(), 25);
  }
  get board() { return this.boards[this.boards.length - 1]; }
  private watch() {
    const b = this.board;
    if (this.stopped || b.exited == null || this.exits.length == this.boards.length) return;
    this.exits.push(b.exited);
    if (b.exited == 1 && b.lines.some((l) => /Not implemented/.test(l))) this.boards.push(EspruinoBoard.again(exe!, this.dir));
  }
  /** the lines of boot i (0: the first) */
  lines(i: number) { return this.boards[i] ? this.boards[i].lines : []; }
  /** "@@U" figures of boot i */
  usage(i: number) { return this.lines(i).filter((l) => /^@@U \d+/.test(l)).map((l) => +l.split(" ")[1]); }
  /** the sampler's last "@@P" of boot i: peak since boot, peak since the first Storage write, writes */
  peak(i: number) {
    const p = this.lines(i).filter((l) => /^@@P /.test(l)).pop();
    const [all, upd, n] = p ? p.split(" ").slice(1).map(Number) : [NaN, NaN, 0];
    return { all, upd, n };
  }
  /** the peak of boot i before its first Storage write (its boot and steady run) */
  bootPeak(i: number) {
    const p = this.lines(i).filter((l) => /^@@P \d+ \d+ 0$/.test(l)).pop();
    return p ? +p.split(" ")[1] : NaN;
  }
  /** the sampler's own blocks at boot i */
  sampler(i: number) {
    const s = this.lines(i).find((l) => /^@@S /.test(l));
    return s ? +s.split(" ")[2] - +s.split(" ")[1] : NaN;
  }
  problems() { return this.boards.flatMap((b) => b.problems().filter((l) => !/^ERROR: Connect failed/.test(l))); }
  async stop() {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (process.env.RT_DUMP) this.boards.forEach((b, i) => writeFileSync(`${process.env.RT_DUMP}/ota-${this.dir.split("-").pop()}-boot${i}.txt`, b.lines.join("\n")));
    for (const b of this.boards) await b.stop({ keep: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe.skipIf(!exe || !hasMosquitto)("updates over MQTT on real Espruino (2v29, 1,600 blocks of 12 B) with Mosquitto", () => {
  let broker: Mosquitto, obs: MqttClient, tmp: string, secFile: string;
  const got: { topic: string; text: string }[] = [];
  const figures: string[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    tmp = mkdtempSync(join(tmpdir(), "mq-ota-real-"));
    secFile = join(tmp, "secrets.json");
    writeFileSync(secFile, JSON.stringify({ ota: { key: KEY } }));
    obs = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 100 });
    obs.on("message", (topic, p) => got.push({ topic, text: p.toString() }));
    await obs.subscribeAsync(["mcu/+/ota", "mcu/+/status", "mcu/+/error"], { qos: 1 });
  });
  afterAll(async () => {
    await obs?.endAsync(true);
    await broker?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (figures.length) console.log(`[ota real ${exe ? espruinoVersion(exe) : ""}, 1,600 blocks]\n` + figures.join("\n"));
  });

  /** the small config of test/integration/ota.test.ts (one actuator, no Home Assistant) */
  const small = (id: string, port: number) => ({
    id, broker: { host: "127.0.0.1", port, keepalive: 10 }, base: "mcu", interval: 5, homeassistant: false,
    ota: { deadline: 10 }, actuators: [{ name: "relay", type: "digital", pin: "D5" }],
  });
  /** the issue #14 firmware config with "ota" */
  const full = (id: string, port: number, o: any = {}) => benchConfig(id, port, { ota: { deadline: 10 }, ...o });

  const answers = (id: string, from = 0) => got.slice(from).filter((m) => m.topic == `mcu/${id}/ota`).map((m) => JSON.parse(m.text));
  const online = (id: string, from = 0) => got.slice(from).filter((m) => m.topic == `mcu/${id}/status` && m.text == "online").length;
  async function until(what: string, pred: () => boolean, d: Device | null, ms = 30000) {
    const end = Date.now() + ms;
    while (!pred()) {
      const t = d ? d.problems() : [];
      if (t.length) throw new Error(`trouble while waiting for ${what}:\n${t.join("\n")}`);
      if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms; last lines:\n${d ? d.board.lines.slice(-20).join("\n") : ""}`);
      await sleep(25);
    }
  }

  /** a device flashed with 1.0.0 built from `cfg` (written to a file for runOta), booted, online */
  async function flashed(id: string, cfg: any, board = "espruino-linux") {
    const cfgFile = join(tmp, id + ".json");
    writeFileSync(cfgFile, JSON.stringify(cfg));
    const v1 = (await buildImage(board, { config: cfgFile, secrets: secFile, version: "1.0.0" })).code as string;
    const from = got.length;
    // (the esp8266 bundle: with a stand-in for the Wifi module, saved in Storage as a module)
    const d = new Device({ ...flashFiles(v1, { key: KEY, version: "1.0.0", deadlineMs: 10000 }), ".boot1": SAMPLER, ...(board == "esp8266" ? { Wifi: WIFI_STANDIN } : {}) });
    await until("online", () => online(id, from) > 0, d);
    await until("3 steady readings", () => d.usage(0).length >= 3, d);
    return { d, cfgFile, v1 };
  }
  const opts = (id: string, cfgFile: string, o: any = {}) => ({
    config: cfgFile, secrets: secFile, broker: `mqtt://127.0.0.1:${broker.port}`, device: id, log: () => {},
    timeouts: { answer: 10000, chunk: 10000, boot: 40000 }, ...o,
  });

  /** a full update of `cfg`'s device, 1.0.0 -> 2.0.0; returns the figures */
  async function update(name: string, id: string, cfg: any, board?: string) {
    const { d, cfgFile, v1 } = await flashed(id, cfg, board);
    try {
      const from = got.length, before = d.usage(0).slice(-3);
      const r = await runOta(opts(id, cfgFile, { version: "2.0.0" }));
      expect(r).toHaveLength(1);
      expect(r[0].verdict).toMatch(/^updated to version 2\.0\.0/);
      expect(r[0].ok).toBe(true);
      // the first boot ended at E.reboot (exit 1), the second one runs the new image from slot 1
      expect(d.exits).toEqual([1]);
      expect(d.boards).toHaveLength(2);
      expect(d.lines(0).join("\n")).toMatch(/Not implemented/);
      const seq = answers(id, from).map((a) => a.s).filter((s) => s != "ack");
      expect(seq).toEqual(["idle", "ready", "rebooting", "updated"]);
      const acks = answers(id, from).filter((a) => a.s == "ack").map((a) => a.o);
      expect(acks[acks.length - 1]).toBe(r[0].total);
      expect(answers(id, from).find((a) => a.s == "updated")).toMatchObject({ v: "2.0.0" });
      // what a power cycle now finds: the new image, confirmed (the update is not sent again)
      // (steady: past the trial's deadline, 10 s, whose timer the selector holds until then)
      await until("12 steady readings after the update", () => d.usage(1).length >= 12, d);
      const again = await runOta(opts(id, cfgFile, { version: "2.0.0" }));
      expect(again[0].verdict).toMatch(/^already up to date \(version 2\.0\.0/);
      expect(d.problems()).toEqual([]);
      expect(got.filter((m) => m.topic == `mcu/${id}/error`)).toEqual([]);

      const p = d.peak(0), own = d.sampler(0), after = d.usage(1).slice(-3);
      expect(p.n).toBeGreaterThan(r[0].total / 512); // sampled at every chunk's write at least
      const f = {
        config: name, image: r[0].total, v1: v1.length, seconds: r[0].ms / 1000, sampler: own,
        before: Math.max(...before), bootPeak: d.bootPeak(0), peakUpdate: p.upd, writes: p.n, after: Math.max(...after),
        newBootPeak: d.peak(1).all,
      };
      figures.push(`${name}: image ${f.image} B, update ${f.seconds.toFixed(1)} s (${f.writes} sampled Storage writes); blocks in use (the sampler's own ${own} taken off): ` +
        `1.0.0's boot peak ${f.bootPeak - own}, steady before ${f.before - own}, peak during the update ${f.peakUpdate - own} (budget <= ${BUDGET}), ` +
        `2.0.0's boot peak (on trial) ${f.newBootPeak - own}, steady after (past the trial) ${f.after - own}`);
      return f;
    } finally { await d.stop(); }
  }

  it("a full update (small config): runOta through Mosquitto, exit at E.reboot, the next boot runs 2.0.0 and confirms", async () => {
    const f = await update("small config (1 actuator, no Home Assistant)", "otr1p" + process.pid, small("otr1p" + process.pid, broker.port));
    expect(f.peakUpdate - f.sampler).toBeLessThanOrEqual(BUDGET);
  }, 120000);

  it("a rollback: 3.0.0 never comes online; the deadline passes, it reboots, the next boot runs 1.0.0: rolled back", async () => {
    const id = "otr2p" + process.pid;
    const { d, cfgFile } = await flashed(id, small(id, broker.port));
    try {
      const from = got.length;
      // the new image's broker: a port where nothing listens (it runs, but never comes online)
      writeFileSync(cfgFile, JSON.stringify(small(id, 1)));
      const r = await runOta(opts(id, cfgFile, { version: "3.0.0" }));
      expect(r[0].verdict).toMatch(/^rolled back to version 1\.0\.0/);
      expect(r[0].ok).toBe(false);
      // boot 1 ran 1.0.0 and exited at the switch; boot 2 ran 3.0.0 on trial and exited at its deadline;
      // boot 3 runs 1.0.0
      expect(d.exits).toEqual([1, 1]);
      expect(d.boards).toHaveLength(3);
      expect(d.lines(1).join("\n")).toMatch(/the new image did not confirm: rollback/);
      expect(answers(id, from).map((a) => a.s).filter((s) => s != "ack")).toEqual(["idle", "ready", "rebooting", "rolled back"]);
      expect(answers(id, from).find((a) => a.s == "rolled back")).toMatchObject({ v: "1.0.0" });
      // and it stays there: the failed record is gone, so a power cycle runs 1.0.0 without a trial
      const b = d.board;
      await b.stop({ keep: true });
      const f2 = got.length;
      d.boards.push(EspruinoBoard.again(exe!, d.dir));
      d.exits.push(-9);
      await until("online after a power cycle", () => online(id, f2) > 0, d);
      await sleep(11000); // past the deadline: no reboot
      expect(d.board.exited).toBeNull();
      expect(d.board.lines.join("\n")).not.toMatch(/rollback/);
      expect(d.problems()).toEqual([]);
    } finally { await d.stop(); }
  }, 150000);

  it("the issue #14 firmware config with \"ota\": a full update, and the blocks in use during it", async () => {
    const id = "otr3p" + process.pid;
    const f = await update("issue #14 config (1 sensor, 2 actuators, Home Assistant with diagnostics)", id, full(id, broker.port));
    expect(f.peakUpdate - f.sampler).toBeLessThanOrEqual(BUDGET);
  }, 120000);

  it("the same config in the esp8266 bundle (a Wifi stand-in): a full update, and the blocks in use during it", async () => {
    const id = "otr4p" + process.pid;
    const f = await update("issue #14 config, esp8266 bundle with a Wifi stand-in", id, full(id, broker.port, { wifi: { ssid: "bench" } }), "esp8266");
    expect(f.peakUpdate - f.sampler).toBeLessThanOrEqual(BUDGET);
  }, 120000);
});

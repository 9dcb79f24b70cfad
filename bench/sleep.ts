// Battery mode: the time awake per wake, from boot to the sleep call, with a reachable local Mosquitto,
// and an energy estimate per day from it.
//   node <compiled> --out results.json [--quick]
// - emulation: the built esp8266 bundle in emu/espruino.ts (real time), each wake a new emulation booted
//   with the last one's Storage, as deep sleep does; WiFi association is instant there (left aside, as the
//   goal says): the figure is our own work, plus the command window (200 ms) the firmware listens.
// - real interpreter (MQTT_MCU_ESPRUINO, growable): the espruino-linux bundle from Storage, one process
//   per wake; the figure is the firmware's own log line ("sleep ... ms, awake N ms": from its start to
//   the sleep call). With MQTT_MCU_ESPRUINO_1600 also the blocks in use at its telemetry (`mem`).
// The first wake of a build announces itself (discovery): reported apart.
import { createEspruino } from "../emu/espruino";
import { EspruinoBoard, espruinoVersion, interpreters } from "../emu/real";
import { args, emit, median } from "./lib";
import { benchConfig, buildFirmware } from "./firmware";
import { startMosquitto } from "./mosquitto";
import { pretokenise } from "../build/pretokenise.mjs";

const { out: outFile, quick } = args();
const SLEEP = 300, AWAKE = 10;

/** The bench firmware's config (bench/firmware.ts: 1 digital sensor, 2 relays, Home Assistant) as a sleeper. */
function sleeperConfig(id: string, port: number, extra: Record<string, any> = {}) {
  const c: any = benchConfig(id, port, { sleep: SLEEP, awake_max: AWAKE, ...extra });
  delete c.interval;
  delete c.poll;
  return c;
}
const awakeOf = (lines: string[]) => {
  const l = lines.find((x) => /^sleep \d+ ms, awake \d+ ms/.test(x));
  return l ? +l.replace(/^.*awake (\d+) ms.*$/, "$1") : NaN;
};

async function emulation(port: number, n: number) {
  const id = "bzz" + process.pid;
  const code = await buildFirmware("esp8266", sleeperConfig(id, port, { wifi: { ssid: "bench" } }), { wifi: { password: "bench" } });
  const flash = new Map<string, string>(), wakes: { awake: number; log: number; failed: boolean }[] = [];
  for (let i = 0; i <= n; i++) {
    const emu = await createEspruino({ board: "esp8266", storage: flash, wifi: { ssid: "bench", password: "bench", connectDelayMs: 0 } });
    try {
      const t0 = emu.now();
      emu.load(code);
      await emu.runUntil(() => emu.halted, 30000, "deep sleep");
      wakes.push({ awake: emu.sleeps[0].at - t0, log: awakeOf(emu.console), failed: emu.console.some((l) => /failed/.test(l)) });
    } finally { emu.dispose(); }
  }
  const steady = wakes.slice(1).map((w) => w.awake);
  return { bytes: code.length, wakes: wakes.length, first: wakes[0].awake, median: median(steady), max: Math.max(...steady), failed: wakes.filter((w) => w.failed).length };
}

async function real(exe: string, port: number, n: number, with1600?: string) {
  const id = "brz" + process.pid;
  const code = await buildFirmware("espruino-linux", sleeperConfig(id, port));
  const mqtt = (await import("mqtt")).default;
  const tele: any[] = [];
  const w = await mqtt.connectAsync({ host: "127.0.0.1", port });
  w.on("message", (_t, p) => tele.push(JSON.parse(p.toString())));
  await w.subscribeAsync(`mcu/${id}/telemetry`, { qos: 1 });
  const one = async (x: string, files: Record<string, string>) => {
    const b = EspruinoBoard.start(x, files, { control: false });
    try {
      await b.waitLine(/^sleep \d+ ms/, 60000);
      return { awake: awakeOf(b.lines), problems: b.problems() };
    } finally { await b.stop(); }
  };
  const r: any = { bytes: code.length, version: espruinoVersion(exe) };
  try {
    // the first wake announces; the next ones find the announce's tag in Storage (as the device's flash keeps it)
    const first = await one(exe, { ".bootcde": pretokenise(code) }); // as `npm run flash -- --save` stores it
    const tag = code.match(/"an",\s*"([0-9a-f]{8})"/);
    if (!tag) throw new Error("the announce tag was not found in the bundle");
    const seeded = { ".bootcde": pretokenise(code), "mq.an": JSON.stringify(tag[1]) };
    const steady: number[] = [], problems: string[] = [];
    for (let i = 0; i < n; i++) { const x = await one(exe, seeded); steady.push(x.awake); problems.push(...x.problems); }
    Object.assign(r, { first: first.awake, median: median(steady), max: Math.max(...steady), wakes: n, problems: problems.concat(first.problems).slice(0, 5) });
    if (with1600) {
      const t = tele.length, x = await one(with1600, seeded);
      await new Promise((z) => setTimeout(z, 300));
      const m = tele.slice(t).map((o) => o.mem).filter((v) => typeof v == "number");
      r.blocks1600 = m.length ? 1600 - Math.round(Math.min(...m) / 12) : null;
      r.awake1600 = x.awake;
    }
  } finally { await w.endAsync(true); }
  return r;
}

/** mAh per day for a typical ESP8266 module: labelled assumptions (typical datasheet figures), our
 *  measured awake time. */
export function energy(oursMs: number) {
  const a = {
    periodS: SLEEP, awakeMA: 75, sleepUA: 20, wifiS: 1.5, bootS: 0.3,
    sources: "ESP8266EX datasheet (Espressif): RX ~56 mA, TX 120-170 mA, deep sleep ~20 µA; ~70-80 mA average awake with WiFi; WiFi association (DHCP) ~1-2 s, and ~0.3 s from reset to the program: typical figures, not measured here",
  };
  const wakes = 86400 / (a.periodS + a.wifiS + a.bootS + oursMs / 1000);
  const awakeS = a.wifiS + a.bootS + oursMs / 1000;
  const mAhAwake = wakes * awakeS * a.awakeMA / 3600, mAhSleep = (86400 - wakes * awakeS) * a.sleepUA / 1000 / 3600;
  return { assumptions: a, oursMs, wakesPerDay: Math.round(wakes), awakeS, mAhPerDay: mAhAwake + mAhSleep, mAhAwake, mAhSleep,
    ourShare: (oursMs / 1000) / awakeS, days2000mAh: 2000 / (mAhAwake + mAhSleep) };
}

if (outFile) {
  const res: any = { missing: [] as string[], sleepS: SLEEP, awakeMaxS: AWAKE };
  const broker = await startMosquitto();
  try {
    res.emulation = await emulation(broker.port, quick ? 4 : 10);
    if (interpreters.espruino) res.real = await real(interpreters.espruino, broker.port, quick ? 3 : 5, interpreters.espruino1600);
    else res.missing.push("MQTT_MCU_ESPRUINO (Espruino for Linux, growable)");
  } finally { await broker.stop(); }
  const ours = res.real && isFinite(res.real.median) ? res.real.median : res.emulation.median;
  res.energy = energy(ours);
  res.energy.from = res.real && isFinite(res.real.median) ? "real interpreter (growable), median" : "emulation, median";
  emit(outFile, res);
}

// `npm start` end to end: the real command (node sim/start.mjs) in a child process, its page in headless
// Chromium (Debian's /usr/bin/chromium driven by playwright-core; no browser download), and an MQTT peer
// on the same broker. The page loads, telemetry arrives, the LED toggle drives the simulated pin and the
// echoed state shows, the temperature control changes the next telemetry; Ctrl-C stops it cleanly; a
// port in use is one clear line. With UPDATE_SCREENSHOT=1 it saves docs/screenshot.png (the README shows it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { connectAsync, type MqttClient } from "mqtt";
import { hasMosquitto, startMosquitto, type Mosquitto } from "../helpers/mosquitto";
// @ts-ignore: build scripts are plain ESM
import { parseOtaArgs, runOta } from "../../build/ota.mjs";

const ROOT = resolve(__dirname, "../..");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  const msg = `${CHROMIUM} is missing: the simulator's browser tests are SKIPPED (apt-get install chromium, as .ci/run does)`;
  if (process.env.CI === "true") throw new Error(msg.replace("are SKIPPED", "cannot be skipped with CI=true"));
  console.warn("\n" + "!".repeat(100) + "\n!!! " + msg + "\n" + "!".repeat(100) + "\n");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sim { proc: ChildProcess; out: string[]; err: string[]; url: string; mqttPort: number | null; exit: Promise<number | null> }

/** Start `npm start`'s script with these options; resolves once the banner gave the page's URL. */
function startSim(args: string[]): Promise<Sim> {
  const proc = spawn(process.execPath, ["sim/start.mjs", "--no-color", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const out: string[] = [], err: string[] = [];
  const exit = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => out.push(d));
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => err.push(d));
  return new Promise((resolve, reject) => {
    const giveUp = setTimeout(() => { clearInterval(t); proc.kill("SIGKILL"); reject(new Error("npm start not ready within 40 s:\n" + out.join("") + err.join(""))); }, 40000);
    const t = setInterval(() => {
      const text = out.join(""), m = /web page\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) {
        clearInterval(t); clearTimeout(giveUp);
        const b = /^  broker\s+mqtt:\/\/127\.0\.0\.1:(\d+)/m.exec(text); // (the banner line: a --config note names the config's broker first)
        resolve({ proc, out, err, url: m[1], mqttPort: b ? Number(b[1]) : null, exit });
      }
    }, 50);
    exit.then((code) => { clearInterval(t); clearTimeout(giveUp); reject(new Error(`npm start exited (${code}) before it was ready:\n${out.join("")}${err.join("")}`)); });
  });
}

async function stopSim(s: Sim | undefined) {
  if (!s || s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  s.proc.kill("SIGINT");
  if ((await Promise.race([s.exit, sleep(10000).then(() => "timeout")])) === "timeout") s.proc.kill("SIGKILL");
}

const refused = (port: number) => new Promise<boolean>((r) => {
  const c = createConnection(port, "127.0.0.1");
  c.on("connect", () => { c.destroy(); r(false); });
  c.on("error", () => r(true));
});

async function launch(): Promise<{ ctx: BrowserContext; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-chromium-"));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 860 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  return { ctx, dir };
}

/** The simulator started with `args`, a browser page (its errors into `pageErrors`) and an MQTT peer on
 *  its broker; end() stops them all. */
async function openSession(args: string[], pageErrors: string[]) {
  const sim = await startSim(["--port", "0", "--mqtt-port", "0", "--ws-port", "0", ...args]);
  const { ctx, dir } = await launch();
  const page = await ctx.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  const peer = await connectAsync({ host: "127.0.0.1", port: sim.mqttPort!, reconnectPeriod: 0 });
  const end = async () => {
    await peer.endAsync(true);
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
    await stopSim(sim);
  };
  return { sim, page, peer, end };
}

/** telemetry messages an MQTT peer sees */
function telemetry(peer: MqttClient, topic: string) {
  const got: any[] = [];
  peer.on("message", (t, p) => { if (t === topic) got.push(JSON.parse(p.toString())); });
  return {
    got,
    /** the first one from now on that satisfies pred */
    async next(pred: (t: any) => boolean, ms = 10000, what = "telemetry") {
      const from = got.length, end = Date.now() + ms;
      while (Date.now() < end) {
        for (let i = from; i < got.length; i++) if (pred(got[i])) return got[i];
        await sleep(50);
      }
      throw new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(got.slice(from))}`);
    },
  };
}

const text = (page: Page, id: string) => page.getByTestId(id).textContent();
const attr = (page: Page, id: string, a: string) => page.getByTestId(id).getAttribute(a);
/** poll a test id's text (or attribute `a`) until pred holds */
async function until(page: Page, id: string, pred: (s: string | null) => boolean, what: string, ms = 8000, a?: string) {
  const end = Date.now() + ms;
  let last: string | null = null;
  while (Date.now() < end) {
    last = a ? await attr(page, id, a) : await text(page, id);
    if (pred(last)) return last;
    await sleep(50);
  }
  throw new Error(`${what}: ${id}${a ? "@" + a : ""} is ${JSON.stringify(last)} after ${ms} ms`);
}

describe.skipIf(!hasChromium)("npm start in a browser", () => {
  let sim: Sim, page: Page, peer: MqttClient, tele: ReturnType<typeof telemetry>, end: (() => Promise<void>) | undefined;
  const root = "mcu/sim-board", pageErrors: string[] = [];

  beforeAll(async () => {
    ({ sim, page, peer, end } = await openSession([], pageErrors));
    tele = telemetry(peer, root + "/telemetry");
    await peer.subscribeAsync(root + "/#");
  }, 60000);

  afterAll(async () => { await end?.(); });

  it("loads the page; telemetry appears within a few seconds", async () => {
    await page.goto(sim.url);
    await until(page, "broker-state", (s) => s === "broker: connected", "the page's MQTT client");
    await until(page, "device-status", (s) => s === "device: online", "the retained status");
    expect(await text(page, "device-id")).toBe("sim-board");
    // telemetry every 5 s: one within 7 s of the page's subscription
    const t = Number(await until(page, "tele-temperature", (s) => !!s && isFinite(Number(s)), "telemetry on the page", 7000));
    expect(t).toBeGreaterThan(19); // the control starts at 21 °C; the drift stays within ±0.4
    expect(t).toBeLessThan(23);
    // the emulation's memory is QuickJS's, and the page says so (it is not the board's JsVars)
    expect(await until(page, "heap", (s) => !!s && s !== "–", "the heap fact")).toMatch(/^[\d,]+ of [\d,]+ QuickJS blocks \(not Espruino JsVars\)$/);
    expect(pageErrors).toEqual([]);
  }, 20000);

  it("the LED toggle drives the simulated pin; the page shows the echoed state", async () => {
    expect(await attr(page, "pin-led", "data-level")).toBe("0");
    expect(await text(page, "state-led")).toBe("OFF");
    await page.getByTestId("toggle-led").click();
    // the pin, as the emulated board drives it (pushed by the simulator)
    await until(page, "pin-led", (s) => s === "1", "the LED pin", 5000, "data-level");
    expect(await text(page, "pinname-led")).toBe("D2 high");
    // the state the firmware echoed over MQTT
    await until(page, "state-led", (s) => s === "ON", "the echoed state", 5000);
    // and back
    await page.getByTestId("toggle-led").click();
    await until(page, "pin-led", (s) => s === "0", "the LED pin off again", 5000, "data-level");
    await until(page, "state-led", (s) => s === "OFF", "the echoed OFF", 5000);
    expect(await text(page, "pinname-led")).toBe("D2 low");
  }, 20000);

  it("moving the temperature control changes the next telemetry value", async () => {
    const before = await tele.next(() => true, 7000);
    expect(Math.abs(before.temperature - 21)).toBeLessThan(1);
    await page.getByTestId("sensor-temperature").fill("38");
    // a 17 °C jump is far beyond the 0.5 °C deadband: published at the next 1 s poll
    const after = await tele.next((t) => Math.abs(t.temperature - 21) > 1, 4000, "telemetry after the change");
    expect(Math.abs(after.temperature - 38)).toBeLessThan(0.8);
    await until(page, "tele-temperature", (s) => Math.abs(Number(s) - 38) < 0.8, "the page's telemetry", 3000);
  }, 20000);

  it("shows the board in use (docs/screenshot.png)", async () => {
    // a little history for the sparklines: the temperature falls back, the knob turns, the button is pressed
    for (const [t, k] of [[33, 45], [29, 60], [26, 70]]) {
      await page.getByTestId("sensor-temperature").fill(String(t));
      await page.getByTestId("sensor-knob").fill(String(k));
      await tele.next((x) => Math.abs(x.temperature - t) < 0.8 && x.knob === k, 4000);
    }
    const box = (await page.getByTestId("sensor-button").boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await tele.next((x) => x.button === true, 4000, "telemetry with the button pressed");
    await page.mouse.up();
    await tele.next((x) => x.button === false, 4000, "telemetry with the button released");
    await page.getByTestId("toggle-led").click();
    await page.getByTestId("cmd-fan-50").click();
    await until(page, "state-fan", (s) => s === "50", "the fan's echoed state", 5000);
    await until(page, "state-led", (s) => s === "ON", "the LED's echoed state", 5000);
    await until(page, "pin-fan", (s) => Number(s) === 0.5, "the fan's PWM duty", 3000, "data-level");
    await tele.next(() => true, 7000); // one more regular telemetry
    await page.mouse.move(0, 0);
    // the README's picture is rewritten on demand (UPDATE_SCREENSHOT=1), so a test run leaves the tree clean
    const shot = process.env.UPDATE_SCREENSHOT ? join(ROOT, "docs/screenshot.png") : join(tmpdir(), `mqtt-mcu-screenshot-${process.pid}.png`);
    const png = await page.screenshot({ path: shot, fullPage: true, animations: "disabled" });
    expect(png.length).toBeGreaterThan(20000); // a rendered page, not an empty one
    if (!process.env.UPDATE_SCREENSHOT) rmSync(shot, { force: true });
    expect(pageErrors).toEqual([]);
  }, 40000);

  it("the update command it prints updates the board; the page shows the progress, the result, the version and the boots", async () => {
    const cmd = /^  update     (npm run ota -- .*)$/m.exec(sim.out.join(""))![1];
    expect(await text(page, "ota-command")).toBe(cmd);
    expect(await text(page, "fw-version")).toMatch(/^0\.1\.0 · slot 0 · [\d,]+ bytes$/);
    expect(await text(page, "boots")).toBe("1");
    // every state the page shows while it runs
    await page.evaluate(() => {
      const seen: string[] = ((window as any).seen = []), box = document.getElementById("ota")!, bar = document.getElementById("ota-progress") as HTMLProgressElement;
      new MutationObserver(() => seen.push(`${box.getAttribute("data-phase")} ${bar.value}/${bar.max}`)).observe(box, { attributes: true, subtree: true, childList: true, characterData: true });
    });
    // the command as printed (its arguments), with a new version
    const r = await runOta({ ...parseOtaArgs(cmd.split(" ").slice(4)), version: "0.2.0", log: () => {} });
    expect(r[0].verdict).toMatch(/^updated to version 0\.2\.0/);
    const result = await until(page, "ota-result", (s) => !!s && s.startsWith("last update: updated"), "the page's result", 8000);
    expect(result).toMatch(/^last update: updated to 0\.2\.0 at \d\d:\d\d:\d\d$/);
    await until(page, "fw-version", (s) => !!s && s.startsWith("0.2.0 · slot 1"), "the version running", 5000);
    expect(await text(page, "boots")).toBe("2 · 1 reboot");
    expect(await attr(page, "ota", "data-phase")).toBe("idle");
    const seen: string[] = await page.evaluate(() => (window as any).seen);
    const total = r[0].total, receiving = seen.filter((x) => x.startsWith("receiving ")).map((x) => Number(x.split(/[ /]/)[1]));
    expect(receiving.length).toBeGreaterThan(1); // the bar moved while the chunks came
    expect(receiving).toEqual([...receiving].sort((a, b) => a - b));
    expect(seen).toContain(`rebooting ${total}/${total}`);
    // the page's log leaves out the image's chunks
    expect(await page.getByTestId("mqtt-log").textContent()).not.toMatch(/~\/ota\/\d/);
    expect(sim.out.join("")).toContain("update: updated to 0.2.0");
    expect(pageErrors).toEqual([]);
  }, 30000);

  it("Ctrl-C stops everything and exits 0", async () => {
    const port = Number(new URL(sim.url).port);
    sim.proc.kill("SIGINT");
    expect(await Promise.race([sim.exit, sleep(10000).then(() => "timeout")])).toBe(0);
    const out = sim.out.join("");
    expect(out).toContain("Ctrl-C: stopping");
    expect(out).toMatch(/→ ~\/status offline/); // the broker published the board's will before it stopped
    expect(sim.err.join("")).toBe("");
    expect(await refused(port)).toBe(true);
    expect(await refused(sim.mqttPort!)).toBe(true);
  }, 15000);
});

// Battery mode (#16): examples/sim-sleeper.json wakes every 20 s. The page marks the board asleep (with
// the time to its wake) and awake; it wakes on schedule and publishes once per wake; a command sent while
// it sleeps is applied at its next wake.
describe.skipIf(!hasChromium)("npm start with a sleeping board", () => {
  let sim: Sim, page: Page, peer: MqttClient, end: (() => Promise<void>) | undefined;
  const root = "mcu/sim-sleeper", at: number[] = [], pageErrors: string[] = [];

  beforeAll(async () => {
    ({ sim, page, peer, end } = await openSession(["--config", "examples/sim-sleeper.json"], pageErrors));
    peer.on("message", (t) => { if (t === root + "/telemetry") at.push(Date.now()); });
    await peer.subscribeAsync(root + "/#", { qos: 1 });
  }, 60000);

  afterAll(async () => { await end?.(); });

  it("the page marks it asleep, then awake at its wake; one telemetry per wake, 20 s apart; a command sent while it sleeps is applied at the wake", async () => {
    await page.goto(sim.url);
    await until(page, "broker-state", (s) => s === "broker: connected", "the page's MQTT client");
    expect(await text(page, "device-status")).toBe("device: wakes every 20 s");
    const asleep = await until(page, "power", (s) => !!s && s.startsWith("board: asleep"), "asleep", 10000);
    expect(asleep).toMatch(/^board: asleep · wakes in \d+ s$/);
    expect(await attr(page, "pin-relay", "data-level")).toBe("0");
    await peer.publishAsync(root + "/cmd/relay", "ON", { qos: 1 }); // queued by the broker while it sleeps
    const n = at.length;
    await until(page, "power", (s) => !!s && s.startsWith("board: awake · wake"), "awake at its wake", 25000);
    await until(page, "pin-relay", (s) => s === "1", "the relay, switched at the wake", 8000, "data-level");
    await until(page, "state-relay", (s) => s === "ON", "the echoed state", 5000);
    await until(page, "power", (s) => !!s && s.startsWith("board: asleep"), "asleep again", 10000);
    // on schedule: the next telemetry about 20 s (the sleep) plus the time awake after this one
    for (let i = 0; i < 100 && at.length < n + 2; i++) await sleep(500);
    expect(at.length).toBeGreaterThanOrEqual(n + 2);
    const gap = at[n + 1] - at[n];
    expect(gap).toBeGreaterThan(19000);
    expect(gap).toBeLessThan(30000);
    expect(pageErrors).toEqual([]);
    expect(sim.out.join("")).toContain("deep sleep: the board wakes in 20 s");
  }, 90000);
});

describe.skipIf(!hasChromium || !hasMosquitto)("npm start -- --broker mqtt://... (a Mosquitto)", () => {
  let broker: Mosquitto, sim: Sim, ctx: BrowserContext, dir: string;
  beforeAll(async () => {
    broker = await startMosquitto();
    sim = await startSim(["--port", "0", "--broker", `mqtt://127.0.0.1:${broker.port}`]);
    ({ ctx, dir } = await launch());
  }, 60000);
  afterAll(async () => {
    await ctx?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await stopSim(sim);
    await broker?.stop();
  });

  it("the board and the page (over the simulator's WebSocket bridge) use that broker", async () => {
    expect(sim.out.join("")).toContain(`broker     mqtt://127.0.0.1:${broker.port}`);
    const peer = await connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    try {
      const echoed = new Promise<string>((r) => peer.on("message", (_t, p) => { if (p.toString() === "ON") r("ON"); }));
      await peer.subscribeAsync("mcu/sim-board/state/led");
      const page = await ctx.newPage();
      await page.goto(sim.url);
      await until(page, "broker-state", (s) => s === "broker: connected", "the page's MQTT client via the bridge");
      await until(page, "device-status", (s) => s === "device: online", "the device's status through Mosquitto");
      await page.getByTestId("toggle-led").click();
      await until(page, "pin-led", (s) => s === "1", "the LED pin", 5000, "data-level");
      expect(await Promise.race([echoed, sleep(5000).then(() => "none")])).toBe("ON");
    } finally { await peer.endAsync(true); }
    sim.proc.kill("SIGINT");
    expect(await Promise.race([sim.exit, sleep(10000).then(() => "timeout")])).toBe(0);
  }, 30000);
});

describe("npm start: errors are one clear line", () => {
  let busy: Server;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  });
  afterAll(() => new Promise<void>((r) => busy.close(() => r())));

  const run = (args: string[]) => new Promise<{ code: number | null; out: string; err: string }>((r) => {
    const p = spawn(process.execPath, ["sim/start.mjs", "--no-color", ...args], { cwd: ROOT });
    let out = "", err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("exit", (code) => r({ code, out, err }));
  });

  it("a web port in use", async () => {
    const port = (busy.address() as any).port;
    const r = await run(["--port", String(port), "--mqtt-port", "0", "--ws-port", "0"]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`npm start: web page: port ${port} on 127.0.0.1 is already in use (choose another with --port N, or --port 0 for any free port)`);
  }, 20000);

  it("an MQTT port in use (given explicitly)", async () => {
    const port = (busy.address() as any).port;
    const r = await run(["--port", "0", "--mqtt-port", String(port)]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^npm start: embedded broker \\(MQTT\\): port ${port} on 127\\.0\\.0\\.1 is already in use`));
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  }, 20000);

  it("a bad option prints the usage; --help prints it and exits 0", async () => {
    const r = await run(["--bogus"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option --bogus");
    expect(r.err).toContain("usage: npm start");
    const h = await run(["--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toContain("--broker URL");
  }, 20000);

  it("a config with a mistake names the key; a missing config says so", async () => {
    const d = mkdtempSync(join(tmpdir(), "mqtt-mcu-simcfg-")), f = join(d, "device.json");
    try {
      writeFileSync(f, JSON.stringify({ broker: { host: "127.0.0.1" }, sensors: [{ name: "t", type: "analog", pin: "D5" }] }));
      const r = await run(["--port", "0", "--mqtt-port", "0", "--ws-port", "0", "--config", f]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`npm start: ${f}: invalid config:\n  sensors[0].pin: board esp32 has no analog pin "D5"`);
      expect(r.err).not.toMatch(/\n\s+at /);
    } finally { rmSync(d, { recursive: true, force: true }); }
    const m = await run(["--port", "0", "--mqtt-port", "0", "--ws-port", "0", "--config", "nope.json"]);
    expect(m.code).toBe(1);
    expect(m.err.trim()).toBe("npm start: config nope.json not found");
  }, 30000);
});

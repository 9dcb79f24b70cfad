// The simulated board: the BUILT firmware bundle (the file that is flashed) running in the Espruino
// emulation (QuickJS, emu/espruino.ts), with simulated sensors on its input pins and its
// output pins watched. The event pump runs continuously until stop().
// It boots as a saved board does: from Storage's .bootcde, at every boot (power-up, E.reboot(), a wake
// from deep sleep), with the same Storage. For an updatable config that is the boot selector with the
// firmware in slot 0 (build/ota-image.mjs flashFiles), so `npm run ota` updates it as it would a board.
import { createEspruino, type Espruino, type BoardName } from "../emu/espruino";
import { driftStep, rawFor, type ActuatorInfo, type SensorInfo } from "./device";

export interface BoardSnapshot {
  /** actuator -> how much it is on: 0/1 (digital) or 0..1 (pwm), after `invert` */
  outputs: Record<string, number>;
  /** actuator -> the raw pin: "D2 high", "D18 PWM 50%" */
  pins: Record<string, string>;
  /** sensor -> what the firmware reads now (with the drift), in the sensor's unit; buttons 0/1 */
  inputs: Record<string, number>;
  diag: { board: string; uptime: number; heapUsed: number; heapTotal: number; sockets: number; rssi: number | null; uncaught: number; rebooted: number };
  /** battery mode: "awake" or "asleep" (a board without "sleep" is always awake); while asleep, the ms
   *  left until it wakes; wakes so far (the first boot is not a wake) */
  power: { state: "awake" | "asleep"; wakesInMs: number | null; wakes: number };
  /** the firmware running: its version and size from its slot's record (version null: not booted by the
   *  boot selector), the slot, on trial (a new image that has not confirmed yet), booted after a
   *  rollback; boots so far (power-up, reboots, wakes) */
  fw: { version: string | null; bytes: number; slot: number | null; trial: boolean; rolledBack: boolean; boots: number };
}

export interface SimBoardOptions {
  board: BoardName;
  code: string;
  /** the Storage it was flashed with (build/ota-image.mjs flashFiles); default: `code` as .bootcde */
  storage?: Map<string, string>;
  sensors: SensorInfo[];
  actuators: ActuatorInfo[];
  /** host name -> IPv4 for the firmware's connect() ("localhost" is built in) */
  hosts?: Record<string, string>;
  /** WiFi MAC (ESP boards) or eth0 address (Linux): the device id when the config has none */
  mac?: string;
  /** each console line of the firmware */
  log?: (line: string) => void;
  /** an output pin changed (for the page's indicators, at once) */
  onOutput?: () => void;
  /** drift period, ms */
  driftMs?: number;
  random?: () => number;
}

export class SimBoard {
  emu!: Espruino;
  /** the value each control is set to (sensor unit; buttons 0/1) */
  readonly targets: Record<string, number> = {};
  private walk: Record<string, number> = {};
  private o: SimBoardOptions;
  private pump: Promise<void> | null = null;
  private stopping = false;
  private drift: ReturnType<typeof setInterval> | null = null;
  private t0 = 0;
  private reboots = 0;
  /** battery mode: when the sleeping board wakes (Date.now() ms; 0: awake), its timer, wakes so far */
  private wakeAt = 0;
  private wakeTimer: ReturnType<typeof setTimeout> | null = null;
  private wakes = 0;
  private boots = 0;
  /** what the boot selector left in MQS at this boot (-1: no selector) */
  private mqs = -1;

  constructor(o: SimBoardOptions) {
    this.o = o;
    for (const s of o.sensors) { this.targets[s.name] = s.value; this.walk[s.name] = 0; }
  }

  async start() {
    await this.boot(this.o.storage || new Map([[".bootcde", this.o.code]]));
    this.drift = setInterval(() => this.tick(), this.o.driftMs || 1000);
  }

  private async boot(storage: Map<string, string>) {
    const emu = await createEspruino({
      board: this.o.board,
      fakeTime: false,
      // the board was set up with WiFi before: it is on the network at boot
      wifi: { connected: true, ssid: "simulated-ap", rssi: -58 },
      hosts: this.o.hosts,
      mac: this.o.mac,
      storage,
      console: (l) => this.o.log?.(l),
      onReboot: () => { this.reboots++; this.o.log?.("E.reboot(): restarting the firmware"); setImmediate(() => this.restart()); },
      // battery mode: the chip is off for `ms` (the emulation halted), then its RTC resets it: a new boot
      // with the same flash, on schedule
      onSleep: (_e, ms) => {
        if (this.stopping) return;
        this.wakeAt = Date.now() + ms;
        this.o.log?.(`deep sleep: the board wakes in ${Math.round(ms / 1000)} s`);
        this.o.onOutput?.();
        this.wakeTimer = setTimeout(() => { this.wakeTimer = null; this.wakeAt = 0; this.wakes++; void this.restart(); }, ms);
      },
    });
    this.emu = emu;
    this.t0 = emu.now();
    emu.pins.onOutput = () => this.o.onOutput?.();
    // inputs at rest before the firmware starts: buttons released, analog inputs at their controls
    for (const s of this.o.sensors) this.apply(s);
    this.boots++;
    emu.load(storage.get(".bootcde") || "");
    try { this.mqs = emu.eval("typeof MQS == 'number' ? MQS : -1"); } catch { this.mqs = -1; }
    emu.init();
    this.pump = this.run(emu);
  }

  private async run(emu: Espruino) {
    while (!this.stopping && !emu.halted) {
      try { await emu.run(50); } catch (e) {
        if (this.stopping || emu.halted) break;
        this.o.log?.("emulation: " + (e as Error).message);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private async restart() {
    if (this.stopping) return;
    const old = this.emu;
    await this.pump;
    const storage = old.storage;
    old.dispose();
    if (!this.stopping) await this.boot(storage);
  }

  /** Set a control: a sensor's value in its unit (clamped to its range), or a button 1 (pressed) / 0. */
  set(name: string, value: number): string | null {
    const s = this.o.sensors.find((x) => x.name === name);
    if (!s) return `no sensor "${name}"`;
    if (typeof value !== "number" || !isFinite(value)) return `value for ${name} must be a number`;
    if (s.kind === "none") return `${name} (${s.type}) is not simulated`;
    this.targets[name] = s.kind === "button" ? (value ? 1 : 0) : Math.min(s.max, Math.max(s.min, value));
    this.apply(s);
    return null;
  }

  /** what the firmware reads now: the control's value plus the drift */
  reading(s: SensorInfo): number {
    if (s.kind === "button") return this.targets[s.name];
    const v = this.targets[s.name] + (s.drift ? this.walk[s.name] : 0);
    return Math.min(s.max, Math.max(s.min, v));
  }

  private apply(s: SensorInfo) {
    if (this.stopping || !this.emu || this.emu.halted) return;
    const v = this.reading(s), pins = this.emu.pins;
    if (s.kind === "analog" && s.pin) pins.setAnalog(s.pin, rawFor(s, v));
    else if (s.kind === "temperature") this.emu.temperature = v;
    else if (s.kind === "button" && s.pin) pins.set(s.pin, (v ? 1 : 0) ^ (s.invert ? 1 : 0));
  }

  private tick() {
    const rnd = this.o.random || Math.random;
    for (const s of this.o.sensors) if (s.drift) { this.walk[s.name] = driftStep(this.walk[s.name], rnd()); this.apply(s); }
  }

  snapshot(): BoardSnapshot {
    const emu = this.emu, outputs: Record<string, number> = {}, pins: Record<string, string> = {}, inputs: Record<string, number> = {};
    for (const a of this.o.actuators) {
      const st = emu.pins.state(a.pin);
      const out = st.mode === "output" || st.mode === "opendrain";
      if (a.kind === "pwm") {
        const duty = st.pwm ? st.pwm.duty : out ? st.out : 0;
        outputs[a.name] = Math.round((a.invert ? 1 - duty : duty) * 1000) / 1000;
        pins[a.name] = st.pwm ? `${a.pin} PWM ${Math.round(duty * 100)}%` : `${a.pin} ${out ? (st.out ? "high" : "low") : "input"}`;
      } else {
        outputs[a.name] = out ? st.out ^ (a.invert ? 1 : 0) : 0;
        pins[a.name] = `${a.pin} ${out ? (st.out ? "high" : "low") : "input"}`;
      }
    }
    for (const s of this.o.sensors) if (s.kind !== "none") inputs[s.name] = Math.round(this.reading(s) * 100) / 100;
    let heapUsed = 0, heapTotal = 0;
    try { const m = emu.memory().espruino; heapUsed = m.usage; heapTotal = m.total; } catch { /* halted */ }
    const asleep = !!this.wakeAt;
    return {
      fw: this.firmware(emu),
      outputs, pins, inputs,
      power: { state: asleep ? "asleep" : "awake", wakesInMs: asleep ? Math.max(0, this.wakeAt - Date.now()) : null, wakes: this.wakes },
      diag: {
        board: emu.board, uptime: Math.round((emu.now() - this.t0) / 1000), heapUsed, heapTotal, sockets: emu.openSockets(),
        rssi: emu.wifi && emu.wifi.state.connected ? emu.wifi.state.rssi : null, uncaught: emu.uncaught.length, rebooted: this.reboots,
      },
    };
  }

  private firmware(emu: Espruino): BoardSnapshot["fw"] {
    const q = this.mqs, slot = q < 0 ? null : q & 1;
    let rec: any = null;
    if (slot !== null) try { rec = JSON.parse(emu.storage.get("mq.m" + slot) || "null"); } catch { /* none */ }
    return {
      version: rec && typeof rec.v == "string" ? rec.v : null,
      bytes: rec ? rec.l : (emu.storage.get(".bootcde") || "").length,
      slot, trial: slot !== null && !!(q & 4) && !emu.storage.has("mq.k" + slot), rolledBack: !!(q & 2), boots: this.boots,
    };
  }

  /** battery mode: the board is in deep sleep (its emulation halted until it wakes) */
  get asleep(): boolean { return !!this.wakeAt; }

  async stop() {
    if (this.stopping) return;
    this.stopping = true;
    if (this.drift) clearInterval(this.drift);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    const emu = this.emu;
    if (!emu) return;
    // the pump returns within one run(50); then the sockets die with the emulation (a power cut: the
    // broker publishes the firmware's will)
    await this.pump;
    emu.dropConnections();
    emu.dispose();
  }
}

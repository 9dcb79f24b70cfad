// A board in the Espruino emulation as a saved board runs (the update tests and the bench's ota part):
// every boot runs .bootcde from its Storage, which for an updatable device holds the boot selector, the
// slots and their records (build/ota-image.mjs).
// E.reboot() boots it again with the same Storage (as the chip would); a power cut (cut(), or the
// emulation's onStorage hook in the middle of a Storage write) halts it, and power() boots it again.
// The event pump runs until stop().
import { createEspruino, type Espruino, type BoardName, type EspruinoOptions } from "./espruino";

export interface OtaDeviceOptions {
  board?: BoardName;
  storage: Map<string, string>;
  /** cut the power at a Storage write or erase (see EspruinoOptions.onStorage) */
  onStorage?: EspruinoOptions["onStorage"];
  storageBytes?: number;
  /** the board's MAC (its device id when the config has none) */
  mac?: string;
  /** called with each console line */
  log?: (l: string) => void;
}

export class OtaDevice {
  emu!: Espruino;
  /** boots so far (each E.reboot and power-up is one), power cuts, every console line of every boot */
  boots = 0;
  cuts = 0;
  readonly lines: string[] = [];
  readonly uncaught: string[] = [];
  private pump: Promise<void> | null = null;
  private stopped = false;
  private rebooting: Promise<void> | null = null;

  constructor(readonly o: OtaDeviceOptions) {}

  get storage() { return this.o.storage; }

  async power() {
    if (this.stopped) return;
    if (this.emu) { await this.pump; this.emu.dispose(); } // (dispose is idempotent)
    const emu = await createEspruino({
      board: this.o.board || "espruino-linux",
      storage: this.o.storage,
      storageBytes: this.o.storageBytes,
      mac: this.o.mac,
      wifi: { connected: true, ssid: "ap", rssi: -50 },
      console: (l) => { this.lines.push(l); this.o.log?.(l); },
      onStorage: this.o.onStorage,
      onReboot: () => { this.rebooting = this.restart(); },
      cpuLimitMs: 20000,
    });
    this.emu = emu;
    this.boots++;
    emu.load(this.o.storage.get(".bootcde") || "");
    emu.init();
    this.pump = this.run(emu);
  }

  private async run(emu: Espruino) {
    while (!this.stopped && !emu.halted) {
      try { await emu.run(20); } catch (e) {
        if (this.stopped || emu.halted) break;
        this.lines.push("emulation: " + (e as Error).message);
      }
    }
    this.uncaught.push(...emu.uncaught);
    if (emu.powerCut) this.cuts++;
  }

  private async restart() { await this.power(); }

  /** the power fails now (what is in Storage stays) */
  async cut() {
    this.emu.dispose();
    await this.pump;
    this.cuts++;
  }

  /** until the emulation halted by itself (a power cut from onStorage, or a reboot in progress) */
  async halted(ms = 20000) {
    const t0 = Date.now();
    while (!this.emu.halted) {
      if (Date.now() - t0 > ms) throw new Error("the device did not halt");
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.pump;
    if (this.rebooting) await this.rebooting;
  }

  async stop() {
    this.stopped = true;
    if (this.rebooting) await this.rebooting.catch(() => {});
    await this.pump;
    if (this.emu) this.emu.dispose();
  }
}

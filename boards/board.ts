// The Board interface: everything the firmware needs from a platform. One file per board implements
// it as a thin shim; the build picks one at compile time (esbuild alias "board"), so a bundle holds
// one board and no dead code. Bytes are binary strings; times are milliseconds.
import type { Clock, Transport } from "../src/mqtt/port";

export type Pin = string | number;

export interface Pins {
  /** configure a pin: "in" input, "up"/"down" input with pull-up/down, "out" push-pull output.
   *  Optional before write/read/watch (they set a default mode), needed for pull-ups. */
  mode(pin: Pin, m: "in" | "up" | "down" | "out"): void;
  /** digital output; `v` true = high */
  write(pin: Pin, v: boolean): void;
  /** digital input level */
  read(pin: Pin): boolean;
  /** analog input, 0..1 of full scale */
  analog(pin: Pin): number;
  /** PWM output, duty 0..1; freq in Hz when the board supports it */
  pwm(pin: Pin, duty: number, freq?: number): void;
  /** call `fn(level)` on each edge (debounced by `debounceMs`); returns a handle for unwatch */
  watch(pin: Pin, fn: (level: boolean) => void, debounceMs: number): any;
  unwatch(handle: any): void;
}

export interface NetOptions { ssid?: string; password?: string }

export interface Network {
  /** bring the network up, retrying with backoff until it is; no-op where it is always up */
  start(o: NetOptions): void;
  /** true while the board has an IP link (Espruino's device builds leave it out: the firmware does not ask) */
  up(): boolean;
  /** "up" / "down", on each change. Register before start(): start() emits "up" (possibly at once,
   *  from inside start) when the link is, or comes, up. */
  on(ev: string, fn: () => void): void;
}

/** ca/cert/key: PEM text for Node (the host board); DER bytes as a binary string for Espruino, whose
 *  mbedtls has no PEM parser (build/config.mjs compiles in what the board takes) */
export interface TlsOptions { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized?: boolean }

// A device build leaves out what its config never uses: an Espruino board then has no pins.mode without
// a pull-up, no pins.pwm without a PWM output, no pins.unwatch (nothing stops), no net.up, no diag.rssi
// without WiFi (the firmware sends null), and store, temperature, onewire, tls as the interface says.
export interface Board {
  /** board name as given to --board */
  name: string;
  /** stable unique device id (WiFi MAC on ESP boards), lowercase hex without separators */
  id(): string;
  net: Network;
  /** socket factories for the MQTT client; tls is absent where the board has none (esp8266) */
  tcp: Transport;
  tls?: (o: TlsOptions) => Transport;
  clock: Clock;
  pins: Pins;
  /** persistent key/value storage (survives reboot) */
  store: { get(k: string): string | undefined; set(k: string, v: string): void };
  /** free memory in bytes, WiFi RSSI in dBm (each null when unknown), uptime in seconds */
  diag: { mem(): number | null; rssi(): number | null; uptime(): number };
  /** board temperature in degrees C, where the chip has a sensor */
  temperature?(): number | null;
  /** 1-Wire bus on a pin (Espruino's OneWire), where available */
  onewire?(pin: Pin): any;
  reboot(): void;
  /** battery mode: sleep `ms`, then boot again. ESP boards deep sleep (the chip resets at the wake and
   *  the saved program starts from scratch: `wake` is never called); Linux and the host emulate it (the
   *  firmware has stopped everything; `wake` is called after `ms`). Absent: no deep sleep. */
  sleep?(ms: number, wake: () => void): void;
  /** over-the-air update (README "Updates over MQTT"): absent where the board has none */
  ota?: Ota;
  log(msg: string): void;
}

/** What an update needs from a board: Espruino's Storage (the part the update uses: files of bytes,
 *  written in pieces at offsets after a create with the total size), the slot the boot selector ran
 *  (build/ota-image.mjs: 0/1, +2 rolled back, +4 on trial; -1: not started by the selector), and the
 *  board's native hashes over a whole Storage file, each as a binary string. */
export interface Ota {
  fs: {
    read(n: string, off?: number, len?: number): string | undefined;
    readJSON(n: string, noExceptions: boolean): any;
    write(n: string, d: string, off?: number, size?: number): boolean;
    erase(n: string): void;
    getStats(): { freeBytes: number; trashBytes: number };
  };
  s: number;
  /** the hash of the tag (HMAC): "sha256", "sha1", or "" where the build has no crypto module */
  hn: string;
  hash(s: string): string;
  /** the image digest: SHA-256 (binary) where the board has it, else E.CRC32 (a number) */
  dg(s: string): string | number;
}

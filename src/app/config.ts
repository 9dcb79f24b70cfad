// The firmware's configuration as the app sees it: device.json + secrets.json after build/config.mjs
// has validated them and filled in every default. Times are in ms here (seconds in device.json).
import type { Pin, TlsOptions } from "../../boards/board";

export interface SensorConfig {
  /** key in the telemetry JSON, [a-z0-9_] */
  name: string;
  /** driver: analog, digital, temperature, ds18b20, dht22, or a custom one (see DRIVERS) */
  type: string;
  pin?: Pin;
  /** analog: value = raw (0..1) * scale + offset */
  scale?: number;
  offset?: number;
  /** publish at once when the value moves by more than this from the last published one (absent: only
   *  on the interval; digital inputs: 0, every change) */
  deadband?: number;
  /** numbers are rounded to 1/round (100: two decimals) */
  round?: number;
  /** digital: ms the level must be stable; invert the level */
  debounce?: number;
  invert?: boolean;
  /** digital: "up" / "down" pull resistor */
  pull?: "up" | "down";
  /** ds18b20: which device on the bus (search order); absent: the only one */
  index?: number;
  /** dht22: report relative humidity instead of temperature */
  humidity?: boolean;
  /** anything a custom driver needs */
  [k: string]: any;
}

export interface ActuatorConfig {
  /** topic level in cmd/<name> and state/<name>, [a-z0-9_] */
  name: string;
  /** "digital" (relay, LED: 0/1) or "pwm" (0..max) */
  type: string;
  pin: Pin;
  /** active low: the pin is driven low for ON (pwm: duty 1 - value) */
  invert?: boolean;
  /** safe state at boot, before any restore: 0/1, or 0..max; absent: 0 */
  init?: number;
  /** pwm: full scale of commands and state, 1 or 100 */
  max?: number;
  /** pwm frequency in Hz */
  freq?: number;
}

/** One Home Assistant entity: [component, object id, fields fixed at build time]. */
export type Entity = [string, string, { [k: string]: any }];

export interface Config {
  /** device id; "" = the board's unique id */
  id: string;
  /** device name shown by Home Assistant; "" = the id */
  name: string;
  /** firmware version (package.json) */
  sw: string;
  wifi?: { ssid: string; password?: string };
  broker: {
    host: string;
    port: number;
    /** broker.hosts (a cluster): tried in turn, the client's `servers`; absent = host/port only */
    servers?: { host: string; port?: number }[];
    /** TLS options (ca/cert/key from secrets.json); absent = plain TCP */
    tls?: TlsOptions;
    /** MQTT over WebSocket on this path; absent = raw MQTT */
    ws?: string;
    username?: string;
    password?: string;
    /** seconds */
    keepalive?: number;
    /** offline queue bounds */
    queue?: { maxMessages?: number; maxBytes?: number };
  };
  /** topic base: topics are <base>/<id>/... */
  base: string;
  /** telemetry every `interval` ms; sensors read every `poll` ms for deadbands */
  interval: number;
  poll: number;
  /** battery mode: deep sleep this many ms between wakes (absent: always on) */
  sleep?: number;
  /** battery mode: the hard limit on the time awake, ms */
  awake?: number;
  /** where the last actuator states come from at boot */
  restore: "retained" | "storage" | "none";
  /** Home Assistant discovery; absent = off. The entities as data (build/config.mjs), or as a function
   *  returning entity i or null past the last (the device build's code: nothing held in RAM) */
  ha?: { prefix: string; entities?: Entity[]; entity?(i: number): Entity | null };
  /** updates over MQTT (README "Updates over MQTT"); absent = off. k: the update key (its bytes as a
   *  binary string; absent where the board cannot check a tag) */
  ota?: { k?: string };
  sensors: SensorConfig[];
  actuators: ActuatorConfig[];
}

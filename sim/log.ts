// The terminal's compact live log: one line per MQTT message (topics under the device's root shown as
// "~/..."), the firmware's console, and what the simulator does. Home Assistant discovery (a burst of
// retained configs at each connect) is folded into one line, an update's chunks are left out. Formatting is pure (unit-tested).

export interface LogOptions {
  /** where lines go (default: process.stdout) */
  write?: (s: string) => void;
  color?: boolean;
  /** line width; longer payloads are cut with "…" */
  width?: number;
  now?: () => Date;
}

const C = { dim: "\x1b[2m", cyan: "\x1b[36m", yellow: "\x1b[33m", magenta: "\x1b[35m", red: "\x1b[31m", green: "\x1b[32m", bold: "\x1b[1m", off: "\x1b[0m" };

export function hhmmss(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Cut `s` to `n` characters (with "…"); control characters become "·" so a binary payload cannot
 *  garble the terminal. */
export function fit(s: string, n: number): string {
  s = s.replace(/[\x00-\x1f\x7f]/g, "·");
  return s.length <= n ? s : n <= 1 ? s.slice(0, Math.max(0, n)) : s.slice(0, n - 1) + "…";
}

/** "mcu/sim-board/state/led" -> "~/state/led" when under `root`; the direction: into the device
 *  (commands) or out of it. */
export function describeTopic(root: string, topic: string): { short: string; toDevice: boolean } {
  const short = topic.startsWith(root + "/") ? "~" + topic.slice(root.length) : topic;
  return { short, toDevice: topic.startsWith(root + "/cmd/") };
}

/** Is this a Home Assistant discovery config of the device? Returns "component object" or null. */
export function discoveryOf(prefix: string, id: string, topic: string): string | null {
  const p = topic.split("/");
  if (p.length === 5 && p[0] === prefix && p[2] === id && p[4] === "config") return `${p[1]} ${p[3]}`;
  return null;
}

export class Logger {
  private o: Required<LogOptions>;
  private batch: string[] = [];
  private batchTimer: ReturnType<typeof setTimeout> | null = null;
  root = "";
  haPrefix = "homeassistant";
  id = "";

  constructor(o: LogOptions = {}) {
    this.o = {
      write: o.write || ((s) => process.stdout.write(s)),
      color: o.color ?? false,
      width: o.width || 120,
      now: o.now || (() => new Date()),
    };
  }

  private c(code: keyof typeof C, s: string) { return this.o.color ? C[code] + s + C.off : s; }

  private line(tag: string, rest: string) {
    this.o.write(`${this.c("dim", hhmmss(this.o.now()))} ${tag} ${rest}\n`);
  }

  /** room for text after "hh:mm:ss X " and `used` more characters */
  private room(used: number) { return Math.max(20, this.o.width - 11 - used); }

  /** one MQTT message seen on the broker */
  mqtt(topic: string, payload: string, retain: boolean) {
    const ha = discoveryOf(this.haPrefix, this.id, topic);
    if (ha) {
      if (payload === "") return this.info(`Home Assistant: removed ${ha}`);
      this.batch.push(ha);
      if (this.batchTimer) clearTimeout(this.batchTimer);
      this.batchTimer = setTimeout(() => this.flush(), 300);
      return;
    }
    const { short, toDevice } = describeTopic(this.root, topic);
    // an update's chunks (~/ota/<offset>, 512 bytes of the image each) and their acknowledgements: the
    // simulator prints the progress instead
    if (/^~\/ota\/\d+$/.test(short) || (short === "~/ota" && /^\{"s":"(ack|dup)"/.test(payload))) return;
    const flag = retain ? " (retained)" : "";
    const text = fit(payload, this.room(short.length + 1 + flag.length));
    const arrow = toDevice ? this.c("yellow", "←") : this.c("cyan", "→");
    const err = short === "~/error";
    this.line(arrow, `${this.c(err ? "red" : "bold", short)} ${err ? this.c("red", text) : text}${flag ? this.c("dim", flag) : ""}`);
  }

  /** the Home Assistant discovery burst, as one line */
  flush() {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    if (!this.batch.length) return;
    const n = this.batch.length, list = this.batch.join(", ");
    this.batch = [];
    this.line(this.c("cyan", "→"), fit(`Home Assistant discovery: ${n} entit${n === 1 ? "y" : "ies"} (${list})`, this.room(0)));
  }

  /** a console line of the firmware */
  board(text: string) {
    const bad = /^(Uncaught|WARNING|ERROR)/.test(text);
    this.line(this.c("magenta", "▪"), this.c(bad ? "red" : "magenta", fit(text, this.room(0))));
  }

  /** what the simulator did */
  info(text: string) { this.line(this.c("green", "·"), fit(text, this.room(0))); }

  error(text: string) { this.line(this.c("red", "!"), this.c("red", text)); }

  stop() { this.flush(); }
}

// The real interpreters, when this machine has them: Espruino built for Linux (a growable build, and an
// ESP8266-faithful one: 32-bit, a fixed store of 1,600 blocks of 12 bytes) and JerryScript. They are
// built from their public sources outside this repo and named by environment variables; nothing here
// builds them. Tests that need one skip without it (CI runs the emulation, emu/espruino.ts).
//
//   MQTT_MCU_ESPRUINO        Espruino for Linux, growable (RESIZABLE_JSVARS)
//   MQTT_MCU_ESPRUINO_1600   Espruino for Linux, 32-bit, 1,600 variables (blocksize 12): an ESP8266's store
//   MQTT_MCU_JERRY           JerryScript's `jerry` command line (default heap)
//   MQTT_MCU_JERRY_64K       the same built with a 64 KB heap
//
// Espruino runs code as a saved board does: files are first written into Storage (a fresh
// ./espruino.flash in a temp dir, by one run of the interpreter), then the interpreter starts as a board
// boots: it runs ".bootcde" from Storage, and `require(name)` loads a module saved under that name, both
// executed from flash (function bodies stay in flash: RAM goes to structure, as on the device). The REPL
// on stdin stays open for probes: eval() sends one line (DLE first: not echoed) and reads its answer.
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function bin(v: string): string | undefined {
  const p = process.env[v];
  return p && existsSync(p) ? p : undefined;
}

export const interpreters = {
  espruino: bin("MQTT_MCU_ESPRUINO"),
  espruino1600: bin("MQTT_MCU_ESPRUINO_1600"),
  jerry: bin("MQTT_MCU_JERRY"),
  jerry64: bin("MQTT_MCU_JERRY_64K"),
};

/** `espruino -e 'print(process.version)'` -> "2v29" */
export function espruinoVersion(exe: string): string {
  const r = spawnSync(exe, ["-e", "print('@@'+process.version);print('@@'+JSON.stringify(process.memory()))"], { encoding: "latin1", timeout: 10000 });
  return (r.stdout.match(/@@(\S+)/) || [])[1] || "?";
}

/** Write `files` (binary strings, name -> content) into the Storage of a new espruino.flash in `dir`.
 *  Several short runs: a script is held in RAM while it runs, and 1,600 blocks hold about 12 KB of it. */
export function stageStorage(exe: string, dir: string, files: Record<string, string>) {
  const steps: string[] = [];
  for (const name of Object.keys(files)) {
    const code = files[name], n = JSON.stringify(name);
    if (!code.length) throw new Error(`stageStorage: ${name} is empty`);
    for (let i = 0; i < code.length; i += 512) {
      const c = JSON.stringify(code.substr(i, 512)).replace(/[\u0080-\u00ff]/g, (ch) => "\\x" + ch.charCodeAt(0).toString(16).padStart(2, "0"));
      steps.push(i ? `S.write(${n},${c},${i});` : `S.write(${n},${c},0,${code.length});`);
    }
    steps.push(`if(S.read(${n}).length!=${code.length})print("@@BAD "+${n});`);
  }
  rmSync(join(dir, "espruino.flash"), { force: true });
  for (let i = 0; i < steps.length; ) {
    let s = 'var S=require("Storage");\n';
    while (i < steps.length && s.length + steps[i].length < 4000) s += steps[i++] + "\n";
    s += 'print("@@STAGED");quit();\n';
    writeFileSync(join(dir, "stage.js"), s);
    const r = spawnSync(exe, ["stage.js"], { cwd: dir, encoding: "latin1", timeout: 30000 });
    if (!/@@STAGED/.test(r.stdout) || /@@BAD/.test(r.stdout))
      throw new Error("stageStorage failed: " + (r.stdout + r.stderr).split("\n").filter((l) => /@@|Error|MEMORY/.test(l)).join(" | "));
  }
  rmSync(join(dir, "stage.js"));
}

export interface Memory { free: number; usage: number; total: number; blocksize: number }

/** One Espruino process booted from Storage, with its console. */
export class EspruinoBoard {
  /** every line printed (banner included), without \r */
  readonly lines: string[] = [];
  private proc: ChildProcess;
  private buf = "";
  private seq = 0;
  private waiters: Array<() => void> = [];
  exited: number | null = null;

  private constructor(readonly exe: string, readonly dir: string, private own: boolean) {
    // no arguments: the REPL, after running .bootcde from ./espruino.flash, as a board at power-on
    this.proc = spawn(exe, [], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stdout!.setEncoding("latin1");
    this.proc.stdout!.on("data", (d: string) => this.take(d));
    this.proc.stderr!.setEncoding("latin1");
    this.proc.stderr!.on("data", (d: string) => this.take(d));
    this.proc.on("exit", (code) => { this.exited = code ?? -1; this.wake(); });
    this.proc.stdin!.on("error", () => {});
  }

  /** Stage `files` into a fresh Storage (in `dir`, default a new temp dir) and boot. */
  static start(exe: string, files: Record<string, string>, dir?: string): EspruinoBoard {
    const own = !dir;
    dir = dir || mkdtempSync(join(tmpdir(), "mqtt-mcu-espruino-"));
    stageStorage(exe, dir, files);
    return new EspruinoBoard(exe, dir, own);
  }

  /** Boot again from the same Storage (a reset: RAM is lost, Storage kept). */
  restart(): EspruinoBoard {
    this.proc.kill("SIGKILL");
    return new EspruinoBoard(this.exe, this.dir, this.own);
  }

  private take(d: string) {
    this.buf += d.replace(/\r/g, "");
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      // the REPL's prompt and line-clearing escapes come before what the program printed
      this.lines.push(this.buf.substr(0, i).replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/^>+/, ""));
      this.buf = this.buf.substr(i + 1);
    }
    this.wake();
  }
  private wake() { const w = this.waiters; this.waiters = []; for (const f of w) f(); }
  private changed(ms: number) { return new Promise<void>((r) => { const t = setTimeout(r, ms); this.waiters.push(() => { clearTimeout(t); r(); }); }); }

  /** lines saying the interpreter hit trouble: uncaught errors, out of memory, its own errors */
  problems(): string[] {
    return this.lines.filter((l) => /Uncaught|OUT OF MEMORY|MEMORY_BUSY|Execution Interrupted|^ERROR|FATAL/i.test(l));
  }

  /** Wait for a line matching `m` (from line index `from`); returns it. */
  async waitLine(m: RegExp | ((l: string) => boolean), ms = 10000, from = 0): Promise<string> {
    const test = typeof m == "function" ? m : (l: string) => m.test(l);
    const end = Date.now() + ms;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) if (test(this.lines[i])) return this.lines[i];
      if (this.exited != null) throw new Error(`espruino exited (${this.exited}) waiting for ${m}; last lines:\n${this.lines.slice(-15).join("\n")}`);
      if (Date.now() > end) throw new Error(`no line ${m} within ${ms} ms; last lines:\n${this.lines.slice(-15).join("\n")}`);
      await this.changed(end - Date.now());
    }
  }

  /** Evaluate `expr` on the board (one REPL line, not echoed) and return its JSON value. */
  async eval(expr: string, ms = 10000): Promise<any> {
    const tag = "@@" + ++this.seq + " ";
    const from = this.lines.length;
    // DLE: the line is not echoed; the answer is one printed line
    this.proc.stdin!.write("\x10print(" + JSON.stringify(tag) + "+JSON.stringify(" + expr + "))\n");
    const l = await this.waitLine((x) => x.indexOf(tag) >= 0, ms, from);
    const v = l.substr(l.indexOf(tag) + tag.length);
    return v == "undefined" || v == "" ? undefined : JSON.parse(v);
  }

  /** process.memory() after a garbage collection, in blocks */
  memory(): Promise<Memory> { return this.eval("process.memory()"); }

  async stop() {
    if (this.exited == null) {
      this.proc.kill("SIGKILL");
      for (let i = 0; i < 50 && this.exited == null; i++) await this.changed(20);
    }
    if (this.own) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Run `code` in JerryScript (`jerry --mem-stats`); returns stdout+stderr and the peak heap in bytes. */
export function runJerry(exe: string, code: string, timeoutMs = 60000): { out: string; status: number | null; peak: number | null; heap: number | null } {
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-jerry-"));
  try {
    writeFileSync(join(dir, "main.js"), code);
    const r = spawnSync(exe, ["--mem-stats", join(dir, "main.js")], { encoding: "latin1", timeout: timeoutMs });
    const out = (r.stdout || "") + (r.stderr || "");
    const num = (re: RegExp) => { const m = out.match(re); return m ? +m[1] : null; };
    return { out, status: r.status, peak: num(/Peak allocated\s*=\s*(\d+)/), heap: num(/Heap size\s*=\s*(\d+)/) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

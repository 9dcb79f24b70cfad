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
// on stdin stays open but is not used: probes (eval(), exec()) go through a TCP control link the board
// opens at boot (see EspruinoBoard), and their answers are read from its console output.
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Server, Socket } from "node:net";
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
  const r = spawnSync(exe, ["-e", "print('@@'+process.version)"], { encoding: "latin1", timeout: 10000 });
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

/** The control link's end on the board, saved as ".boot0" (Espruino runs .boot0-3 before .bootcde): it
 *  connects to the test's TCP server and runs each line received at the top level (a string given to
 *  setTimeout runs in the global scope: what it defines stays global). About 40 blocks. */
function controlCode(port: number): string {
  return `(function(){var b="";require("net").connect({host:"127.0.0.1",port:${port}},function(){}).on("data",function(d){b+=d;for(var i;(i=b.indexOf("\\n"))>=0;b=b.substr(i+1))setTimeout(b.substr(0,i),0);});})();\n`;
}

/** One Espruino process booted from Storage, with its console (stdout, read) and a control link (a TCP
 *  connection it opens to the test at boot: eval() and exec() go through it, not through the REPL on
 *  stdin, because Espruino for Linux reads stdin in a second thread that appends to the main thread's
 *  event queue without a lock: under load characters of a line are lost or mixed with the queue's
 *  bookkeeping, and the REPL has been seen to spin for ever lexing the result (12 boots in 40, one eval
 *  line each, on a loaded machine). Socket data is read by the main thread. */
export class EspruinoBoard {
  /** every line printed (banner included), without \r */
  readonly lines: string[] = [];
  private proc: ChildProcess | null = null;
  private buf = "";
  private seq = 0;
  private waiters: Array<() => void> = [];
  private ctl: Socket | null = null;
  private booted: Promise<void>;
  exited: number | null = null;

  private server: Server | null = null;

  private constructor(readonly exe: string, readonly dir: string, files: Record<string, string> | null, private control: boolean) {
    this.booted = this.boot(files);
    this.booted.catch((e) => { this.lines.push("ERROR: " + (e as Error).message); this.exited = -1; this.wake(); });
  }

  private async boot(files: Record<string, string> | null) {
    if (!files) { /* booting again on the Storage there */ }
    else if (!this.control) stageStorage(this.exe, this.dir, files);
    else {
      const srv = this.server = createServer();
      srv.on("error", () => {});
      await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
      srv.on("connection", (c: Socket) => { c.on("error", () => {}); this.ctl?.destroy(); this.ctl = c; this.wake(); });
      const name = [".boot0", ".boot1", ".boot2", ".boot3"].find((n) => !(n in files));
      if (!name) throw new Error("EspruinoBoard: .boot0-3 all taken (one is the control link)");
      stageStorage(this.exe, this.dir, { ...files, [name]: controlCode((srv.address() as any).port) });
    }
    // no arguments: the REPL, after running .boot0-3 and .bootcde from ./espruino.flash, as a board at power-on
    const proc = spawn(this.exe, [], { cwd: this.dir, stdio: ["pipe", "pipe", "pipe"] });
    this.proc = proc;
    proc.stdout!.setEncoding("latin1");
    proc.stdout!.on("data", (d: string) => this.take(d));
    proc.stderr!.setEncoding("latin1");
    proc.stderr!.on("data", (d: string) => this.take(d));
    proc.on("exit", (code) => { this.exited = code ?? -1; this.wake(); });
    proc.stdin!.on("error", () => {});
  }

  /** Stage `files` into a fresh Storage (in a new temp dir) and boot. Staging and booting happen once
   *  the control link's server listens: a failure shows in waitLine()/eval(). `control: false`: no
   *  control link (no eval()/exec()/memory(); nothing of the harness on the board). */
  static start(exe: string, files: Record<string, string>, o: { control?: boolean } = {}): EspruinoBoard {
    return new EspruinoBoard(exe, mkdtempSync(join(tmpdir(), "mqtt-mcu-espruino-")), files, o.control !== false);
  }

  /** Boot again on the Storage left in `dir` by an earlier board (a power cycle, or the restart after
   *  E.reboot(), which exits on Linux): no staging, no control link. Stop the earlier board with
   *  stop({ keep: true }) so that its directory stays. */
  static again(exe: string, dir: string): EspruinoBoard {
    return new EspruinoBoard(exe, dir, null, false);
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

  /** lines saying the interpreter hit trouble: uncaught errors, out of memory, its own errors (from line
   *  index `from`) */
  problems(from = 0): string[] {
    return this.lines.slice(from).filter((l) => /Uncaught|OUT OF MEMORY|MEMORY_BUSY|Execution Interrupted|^ERROR|FATAL/i.test(l));
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

  /** Evaluate `expr` on the board (at the top level, through the control link) and return its JSON
   *  value. Rejects with the board's message when it throws. */
  async eval(expr: string, ms = 10000): Promise<any> {
    const v = await this.line((tag) => `try{print(${JSON.stringify(tag + "=")}+JSON.stringify(${expr}))}catch(x){print(${JSON.stringify(tag + "!")}+x)}`, ms);
    return v == "undefined" || v == "" ? undefined : JSON.parse(v);
  }

  /** Run statements at the board's top level (what they define stays global) and wait until they ran.
   *  One line: newlines become spaces (no // comments). Rejects with the board's message when they throw.
   *  Returns the lines printed meanwhile. */
  async exec(stmts: string, ms = 10000): Promise<string[]> {
    const from = this.lines.length;
    await this.line((tag) => `try{${stmts.replace(/\n/g, " ")};print(${JSON.stringify(tag + "=")})}catch(x){print(${JSON.stringify(tag + "!")}+x)}`, ms);
    return this.lines.slice(from).filter((x) => !/^@@\d+[=!]/.test(x));
  }

  /** Send the code `make(tag)` (one line, ASCII) and return what follows the tag line's "=" ("!": reject). */
  private async line(make: (tag: string) => string, ms: number): Promise<string> {
    const end = Date.now() + ms, tag = "@@" + ++this.seq, src = make(tag);
    if (/[^\x00-\x7f]|\n/.test(src)) throw new Error("EspruinoBoard: send one line of ASCII code (\\u escapes in literals)");
    await this.booted;
    if (!this.control) throw new Error("EspruinoBoard: started with control: false (no eval/exec)");
    while (!this.ctl) {
      if (this.exited != null) throw new Error(`espruino exited (${this.exited}) before its control link connected; last lines:\n${this.lines.slice(-15).join("\n")}`);
      if (Date.now() > end) throw new Error(`the board's control link did not connect within ${ms} ms; last lines:\n${this.lines.slice(-15).join("\n")}`);
      await this.changed(end - Date.now());
    }
    const from = this.lines.length;
    this.ctl.write(src + "\n", "latin1");
    const l = await this.waitLine((x) => x.startsWith(tag + "=") || x.startsWith(tag + "!"), Math.max(end - Date.now(), 1), from);
    if (l[tag.length] == "!") throw new Error(`board threw: ${l.substr(tag.length + 1)}`);
    return l.substr(tag.length + 1);
  }

  /** process.memory() after a garbage collection, in blocks */
  memory(): Promise<Memory> { return this.eval("process.memory()"); }

  /** kill the interpreter if it still runs; its directory (and Storage) is removed unless `keep` */
  async stop(o: { keep?: boolean } = {}) {
    await this.booted.catch(() => {});
    if (this.exited == null && this.proc) {
      this.proc.kill("SIGKILL");
      for (let i = 0; i < 50 && this.exited == null; i++) await this.changed(20);
    }
    this.ctl?.destroy();
    if (this.server) { this.server.close(); this.server = null; }
    if (!o.keep) rmSync(this.dir, { recursive: true, force: true });
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

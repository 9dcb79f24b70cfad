#!/usr/bin/env node
// npm run flash -- --board esp32 --port /dev/ttyUSB0 [--baud 115200] [--save] [--config device.json]
//                  [--dry-run FILE]   (write what would be sent to FILE instead of talking to a board)
// --save keeps the firmware across reboots. Always builds dist/<board>.js first (about a second: a dist left
// by another build, e.g. npm test's from the example config, is never flashed) from --config, else
// device.json in the working directory or the project root, else the example; then runs the `espruino` CLI with an offline board
// description (build/espruino/*.json) so it never tries to download board data or modules.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { ROOT, DIST, buildAll } from "./build.mjs";
import { loadConfig } from "./config.mjs";
import { configFiles } from "./ota-image.mjs";

/** boards the espruino CLI can flash, and the board description each one uses */
export const FLASHABLE = { esp32: "ESP32.json", esp8266: "ESP8266_4MB.json", "espruino-linux": "LINUX.json" };

export function parseFlashArgs(argv) {
  const a = { board: null, port: null, baud: 115200, save: false, config: null, dryRun: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === "--board") a.board = v();
    else if (k === "--port" || k === "-p") a.port = v();
    else if (k === "--baud" || k === "-b") { a.baud = Number(v()); if (!(a.baud > 0)) throw new Error(`--baud must be a number, got ${argv[i]}`); }
    else if (k === "--save") a.save = true;
    else if (k === "--config") a.config = v();
    else if (k === "--dry-run") a.dryRun = v();
    else throw new Error(`unknown argument ${k} (expected --board, --port, --baud, --save, --config, --dry-run)`);
  }
  if (!a.board) throw new Error(`--board is required: one of ${Object.keys(FLASHABLE).join(", ")}`);
  if (!FLASHABLE[a.board]) throw new Error(`board "${a.board}" is not flashed with the espruino CLI: choose one of ${Object.keys(FLASHABLE).join(", ")}`);
  if (!a.port && !a.dryRun) throw new Error("--port is required (e.g. /dev/ttyUSB0, or tcp://HOST:23 for a board's telnet console)");
  return a;
}

/** The espruino CLI arguments for a flash (exported for the test). `data`: more Storage files, name ->
 *  a file on disk (an updatable device's slot 0: its image and record, build/ota-image.mjs). */
export function cliArgs(a, file, data = {}) {
  const args = ["--no-ble", "--board", join(ROOT, "build/espruino", FLASHABLE[a.board]), "-b", String(a.baud)];
  for (const n in data) args.push("--storage", n + ":" + data[n]);
  // save: the code goes to Storage file .bootcde, which Espruino runs from flash at every boot (the
  // CLI's save-on-send; unlike SAVE_ON_SEND=1 this form is also honoured by -o for the dry run).
  // Pretokenised (build/pretokenise.mjs, the CLI's own plugin): 11% fewer bytes of Storage, about 8%
  // faster, long string literals left in flash; the files of an updatable device stay text, as the
  // update command sends them (`tokenise` false)
  if (a.save && a.tokenise !== false) args.push("--config", "PRETOKENISE=2");
  if (a.save) args.push("--storage", ".bootcde:-");
  if (a.dryRun) args.push("-n", "-o", a.dryRun); else args.push("-p", a.port);
  args.push(file);
  return args;
}

/** the config a flash builds from: --config, else device.json here or in the project root (as the docs
 *  set it up), else null (the example) */
export function flashConfig(a, cwd = process.cwd()) {
  return a.config || [join(cwd, "device.json"), join(ROOT, "device.json")].find((f) => existsSync(f)) || null;
}

export async function flash(a) {
  const file = join(DIST, a.board + ".js");
  const cfg = flashConfig(a);
  if (!a.dryRun) console.log(`building ${a.board} from ${cfg || "the example config (no --config, no device.json)"}`);
  await buildAll({ boards: [a.board], config: { file: cfg }, quiet: true });
  // an updatable device (README "Updates over MQTT"), saved: the boot selector is .bootcde, the firmware
  // goes to slot 0 with its record and confirmation
  const c = loadConfig(a.board, { file: cfg || undefined });
  let run = file, data = {};
  if (c.ota && a.save) {
    const image = readFileSync(file, "latin1"), dir = join(DIST, "flash-" + a.board);
    const files = configFiles(image, c);
    mkdirSync(dir, { recursive: true });
    for (const n in files) {
      writeFileSync(join(dir, n), files[n], "latin1");
      if (n !== ".bootcde") data[n] = join(dir, n);
    }
    run = join(dir, ".bootcde");
  } else if (c.ota && !a.dryRun) console.log("note: without --save the device cannot be updated over MQTT (the boot selector and slot 0 are written by --save)");
  const cli = join(ROOT, "node_modules/espruino/bin/espruino-cli.js");
  const r = spawnSync(process.execPath, [cli, ...cliArgs({ ...a, tokenise: !c.ota }, run, data)], { stdio: a.dryRun ? "pipe" : "inherit", encoding: "utf8" });
  if (r.status !== 0) throw new Error(`espruino CLI failed (exit ${r.status})${r.stderr ? ": " + r.stderr.trim().split("\n").pop() : ""}`);
  return r;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await flash(parseFlashArgs(process.argv.slice(2)));
  } catch (e) {
    console.error("flash failed: " + (e && e.message || e));
    process.exit(1);
  }
}

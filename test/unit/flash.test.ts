// npm run flash, offline: the espruino CLI's -n -o mode writes what it would send to a board.
import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-ignore: build scripts are plain ESM
import { cliArgs, flash, flashConfig, parseFlashArgs } from "../../build/flash.mjs";
import { pretokenise } from "../../build/pretokenise.mjs";
// @ts-ignore
import { DIST, buildAll } from "../../build/build.mjs";
// @ts-ignore
import { checkCode } from "../../build/gate.mjs";
// @ts-ignore
import { digest, header } from "../../build/ota-image.mjs";

describe("flash arguments", () => {
  it("needs a known, flashable board and a port", () => {
    expect(() => parseFlashArgs(["--port", "/dev/ttyUSB0"])).toThrow(/--board is required/);
    expect(() => parseFlashArgs(["--board", "uno", "--port", "x"])).toThrow(/board "uno" is not flashed.*esp32, esp8266/);
    expect(() => parseFlashArgs(["--board", "iotjs", "--port", "x"])).toThrow(/not flashed with the espruino CLI/);
    expect(() => parseFlashArgs(["--board", "esp32"])).toThrow(/--port is required/);
    expect(() => parseFlashArgs(["--board", "esp32", "--port", "p", "--baud", "fast"])).toThrow(/--baud must be a number/);
    expect(() => parseFlashArgs(["--board", "esp32", "--port"])).toThrow(/--port needs a value/);
    expect(() => parseFlashArgs(["--board", "esp32", "--port", "p", "--frobnicate"])).toThrow(/unknown argument --frobnicate/);
  });

  it("runs the CLI without BLE, with the board description, baud and port", () => {
    const a = parseFlashArgs(["--board", "esp8266", "--port", "/dev/ttyUSB0", "--baud", "921600"]);
    const args = cliArgs(a, "dist/esp8266.js");
    expect(args).toContain("--no-ble");
    expect(args[args.indexOf("--board") + 1]).toMatch(/build\/espruino\/ESP8266_4MB\.json$/);
    expect(args[args.indexOf("-b") + 1]).toBe("921600");
    expect(args[args.indexOf("-p") + 1]).toBe("/dev/ttyUSB0");
    expect(args).not.toContain("--storage");
    expect(cliArgs({ ...a, save: true }, "f.js")).toContain(".bootcde:-");
  });
});

describe("flash dry run through the espruino CLI", () => {
  const dir = mkdtempSync(join(tmpdir(), "flash-"));

  it("builds from --config, else device.json in the working directory, else the example", () => {
    const a = parseFlashArgs(["--board", "esp32", "--dry-run", "x"]);
    expect(flashConfig({ ...a, config: "mine.json" }, dir)).toBe("mine.json");
    const here = mkdtempSync(join(tmpdir(), "flash-cwd-"));
    writeFileSync(join(here, "device.json"), "{}");
    expect(flashConfig(a, here)).toBe(join(here, "device.json"));
  });

  it("always rebuilds the bundle: a dist/<board>.js left by another build is not what gets flashed", async () => {
    const f = join(DIST, "esp32.js");
    await flash(parseFlashArgs(["--board", "esp32", "--dry-run", join(dir, "first.js")]));
    const before = statSync(f).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await flash(parseFlashArgs(["--board", "esp32", "--dry-run", join(dir, "again.js")]));
    expect(statSync(f).mtimeMs).toBeGreaterThan(before);
  }, 60000);

  it("sends the bundle itself when not saving", async () => {
    const out = join(dir, "ram.js");
    await flash(parseFlashArgs(["--board", "esp32", "--dry-run", out]));
    const bundle = readFileSync(join(DIST, "esp32.js"), "latin1");
    expect(readFileSync(out, "latin1").trim()).toBe(bundle.trim());
  }, 60000);

  it("with --save, sends the bundle into Storage .bootcde and loads it", async () => {
    const out = join(dir, "save.js");
    await flash(parseFlashArgs(["--board", "esp32", "--save", "--dry-run", out]));
    const sent = readFileSync(out, "latin1");
    const bundle = readFileSync(join(DIST, "esp32.js"), "latin1");
    // run what would be sent against a recording Storage, as the board would
    const files: Record<string, string> = {}, loaded: string[] = [];
    const Storage = {
      write(name: string, data: string, offset?: number, size?: number) {
        if (offset === 0 || offset === undefined) files[name] = "";
        expect(offset ?? 0).toBe(files[name].length);
        files[name] += data;
        if (size !== undefined) expect(size).toBe(pretokenise(bundle).length);
      },
    };
    new Function("require", "load", sent)((m: string) => (m === "Storage" ? Storage : null), (f: string) => loaded.push(f));
    // pretokenised (build/pretokenise.mjs), as Espruino's own tools store code
    expect(files[".bootcde"]).toBe(pretokenise(bundle));
    expect(files[".bootcde"].length).toBeLessThan(bundle.length * 0.92);
    expect(loaded).toEqual([".bootcde"]);
  }, 60000);

  it("with \"ota\" and --save: the boot selector as .bootcde, the firmware in slot 0 with its record and confirmation", async () => {
    const cfg = join(dir, "ota");
    mkdirSync(cfg);
    writeFileSync(join(cfg, "device.json"), JSON.stringify({ broker: { host: "10.0.0.2" }, ota: { deadline: 30 }, actuators: [{ name: "relay", type: "digital", pin: "D5" }] }));
    writeFileSync(join(cfg, "secrets.json"), JSON.stringify({ ota: { key: "flash-test-key-0123" } }));
    const out = join(dir, "ota.js");
    try {
      await flash(parseFlashArgs(["--board", "espruino-linux", "--save", "--config", join(cfg, "device.json"), "--dry-run", out]));
      const sent = readFileSync(out, "latin1"), bundle = readFileSync(join(DIST, "espruino-linux.js"), "latin1");
      const files: Record<string, string> = {}, loaded: string[] = [];
      const Storage = {
        write(name: string, data: string, offset?: number, size?: number) {
          if (offset === 0 || offset === undefined) files[name] = "";
          files[name] += data;
          if (size !== undefined) expect(size).toBeGreaterThanOrEqual(data.length);
        },
      };
      new Function("require", "load", "atob", sent)((m: string) => (m === "Storage" ? Storage : null), (f: string) => loaded.push(f), (x: string) => Buffer.from(x, "base64").toString("latin1"));
      expect(Object.keys(files).sort()).toEqual([".bootcde", "mq.f0", "mq.k0", "mq.m0"]);
      expect(files["mq.f0"]).toBe(header("flash-test-key-0123") + bundle);
      expect(JSON.parse(files["mq.m0"])).toEqual({ g: 0, v: JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8")).version, l: bundle.length, h: digest(bundle, "sha256") });
      expect(files["mq.k0"]).toBe("1");
      expect(files[".bootcde"]).toMatch(/require\("Storage"\)/);
      expect(files[".bootcde"]).toContain(",30000)");
      expect(loaded).toEqual([".bootcde"]);
      // both pass the bundle gate's ES5 rules (the selector runs from .bootcde as it is)
      expect(checkCode(bundle, "ota.js").problems).toEqual([]);
      expect(checkCode(files[".bootcde"], "selector.js").problems).toEqual([]);
    } finally {
      await buildAll({ boards: ["espruino-linux"], quiet: true }); // dist/ as the example builds it
    }
  }, 60000);
});

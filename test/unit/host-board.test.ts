// The host (Node) board: the simulated pins, network, store and id that tests and the simulator drive,
// and its TCP transport on a real loopback socket.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createServer, Server } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { board, hostCtl, hostPins } from "../../boards/host";

describe("host board pins", () => {
  beforeEach(() => { hostPins.reset(); vi.useFakeTimers(); });
  afterEach(() => { hostPins.reset(); vi.useRealTimers(); });

  it("records outputs and reports each write to onOutput", () => {
    const seen: any[] = [];
    hostPins.onOutput = (p, v, k) => seen.push([p, v, k]);
    board.pins.mode("D2", "out");
    board.pins.write("D2", true);
    board.pins.write(4, false);
    board.pins.pwm("D5", 0.25, 500);
    expect(hostPins.mode.D2).toBe("out");
    expect(hostPins.level.D2).toBe(true);
    expect(hostPins.level["4"]).toBe(false);
    expect(hostPins.pwm.D5).toEqual({ duty: 0.25, freq: 500 });
    expect(seen).toEqual([["D2", true, "digital"], ["4", false, "digital"], ["D5", 0.25, "pwm"]]);
  });

  it("reads inputs and analog values the test sets", () => {
    hostPins.input("D0", true);
    hostPins.analog.A0 = 0.42;
    expect(board.pins.read("D0")).toBe(true);
    expect(board.pins.read("D9")).toBe(false);
    expect(board.pins.analog("A0")).toBe(0.42);
    expect(board.pins.analog("A1")).toBe(0);
  });

  it("watch: reports a level once it is stable for the debounce time, bounces ignored", () => {
    const got: boolean[] = [];
    const h = board.pins.watch("D0", (v) => got.push(v), 50);
    expect(hostPins.watching("D0")).toBe(1);
    hostPins.input("D0", true);
    vi.advanceTimersByTime(20);
    hostPins.input("D0", false); // bounce back before 50 ms: nothing to report
    vi.advanceTimersByTime(100);
    expect(got).toEqual([]);
    hostPins.input("D0", true);
    vi.advanceTimersByTime(49);
    expect(got).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(got).toEqual([true]);
    hostPins.input("D0", true); // no edge
    vi.advanceTimersByTime(100);
    expect(got).toEqual([true]);
    board.pins.unwatch(h);
    expect(hostPins.watching("D0")).toBe(0);
    hostPins.input("D0", false);
    vi.advanceTimersByTime(100);
    expect(got).toEqual([true]);
  });

  it("watch with debounce 0 reports each edge at once", () => {
    const got: boolean[] = [];
    board.pins.watch(7, (v) => got.push(v), 0);
    hostPins.input(7, true);
    hostPins.input(7, false);
    expect(got).toEqual([true, false]);
  });
});

describe("host board network and controls", () => {
  it("start() emits up; setNet() emits down and up", () => {
    const ev: string[] = [];
    board.net.on("up", () => ev.push("up"));
    board.net.on("down", () => ev.push("down"));
    board.net.start({});
    expect(ev).toEqual(["up"]);
    hostCtl.setNet(false);
    expect(board.net.up()).toBe(false);
    hostCtl.setNet(false);
    hostCtl.setNet(true);
    expect(ev).toEqual(["up", "down", "up"]);
    expect(board.net.up()).toBe(true);
  });

  it("diag, temperature, reboot and log go through hostCtl", () => {
    hostCtl.rssi = -61;
    hostCtl.temperature = 21.5;
    expect(board.diag.rssi()).toBe(-61);
    expect(board.temperature!()).toBe(21.5);
    expect(board.diag.mem()).toBeGreaterThan(0);
    expect(board.diag.uptime()).toBeGreaterThan(0);
    let rebooted = 0;
    hostCtl.onReboot = () => rebooted++;
    board.reboot();
    expect(rebooted).toBe(1);
    const lines: string[] = [];
    const log = hostCtl.log;
    hostCtl.log = (m) => lines.push(m);
    board.log("hello");
    hostCtl.log = log;
    expect(lines).toEqual(["hello"]);
  });

  it("id: 12 lowercase hex digits", () => {
    expect(board.id()).toMatch(/^[0-9a-f]{12}$/);
    expect(board.id()).toBe(board.id());
  });
});

describe("host board store and id from the environment", () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-store-")); vi.resetModules(); });
  afterEach(() => { delete process.env.MQTT_MCU_STORE; delete process.env.MQTT_MCU_ID; rmSync(dir, { recursive: true, force: true }); });

  it("keeps the store in the MQTT_MCU_STORE file across restarts", async () => {
    const f = join(dir, "store.json");
    writeFileSync(f, JSON.stringify({ boot: "3" }));
    process.env.MQTT_MCU_STORE = f;
    const a = (await import("../../boards/host")).board;
    expect(a.store.get("boot")).toBe("3");
    expect(a.store.get("none")).toBeUndefined();
    a.store.set("boot", "4");
    expect(JSON.parse(readFileSync(f, "utf8"))).toEqual({ boot: "4" });
    vi.resetModules();
    const b = (await import("../../boards/host")).board;
    expect(b.store.get("boot")).toBe("4");
  });

  it("keeps the store in memory without MQTT_MCU_STORE", async () => {
    const a = (await import("../../boards/host")).board;
    a.store.set("k", "");
    expect(a.store.get("k")).toBe("");
  });

  it("takes the id from MQTT_MCU_ID", async () => {
    process.env.MQTT_MCU_ID = "sim0001";
    expect((await import("../../boards/host")).board.id()).toBe("sim0001");
  });
});

describe("host board TCP transport", () => {
  let srv: Server;
  afterEach(() => new Promise<void>((r) => srv.close(() => r())));

  it("carries every byte value both ways as binary strings", async () => {
    srv = createServer((s) => s.on("data", (d) => s.write(d))); // echo
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as any).port;
    const all = Buffer.from([...Array(256).keys()]).toString("latin1");
    let got = "";
    const done = new Promise<void>((resolve) => {
      const l = board.tcp("127.0.0.1", port, {
        open: () => l.write(all),
        data: (d) => { expect(typeof d).toBe("string"); got += d; if (got.length >= 256) { l.close!(); resolve(); } },
        close: () => {},
      });
    });
    await done;
    expect(got === all).toBe(true);
  });

  it("reports a refused connection as an ETRANSPORT close", async () => {
    srv = createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as any).port;
    await new Promise<void>((r) => srv.close(() => r()));
    srv = createServer(); // for afterEach
    srv.listen(0, "127.0.0.1");
    const e: any = await new Promise((resolve) => {
      board.tcp("127.0.0.1", port, { open: () => {}, data: () => {}, close: (x) => resolve(x) });
    });
    expect(e.code).toBe("ETRANSPORT");
    expect(e.message).toMatch(/ECONNREFUSED/);
  });
});

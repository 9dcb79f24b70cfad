// boards/iotjs.ts against a fake of IoT.js 1.0's `gpio` module on Linux, so CI (which has no IoT.js)
// catches what the real one refuses. The fake follows IoT.js 1.0.0 (jerryscript-project/iotjs master,
// 02599f35, process.version "1.0.0"):
// - src/js/gpio.js: openSync(config) is `new native(config)`; the pin object has readSync, writeSync,
//   closeSync, setDirectionSync and the async forms, and NO on(): no "change" event reaches JavaScript.
// - src/modules/iotjs_module_gpio.c gpio_set_configuration (lines 53-143): pin a number >= 0, direction
//   IN 0 / OUT 1 (default OUT), mode and edge numbers below their enum's end, an input takes only mode
//   NONE/PULLUP/PULLDOWN; lines 317-332: on Linux MODE has NONE only (PULLUP etc. are NuttX-only).
//   gpio_constructor (lines 163-169): a failed open throws "Open error, cannot open GPIO".
// - src/modules/linux/iotjs_module_gpio-linux.c gpio_set_edge (lines 170-196): for an input with an edge
//   other than NONE it opens the value file, starts an edge thread and then returns false (line 192), so
//   the open fails, and the thread stays behind on a pin object that is later freed.
// The real thing is exercised by test/integration/firmware-iotjs.test.ts (needs MQTT_MCU_IOTJS).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

const DIRECTION = { IN: 0, OUT: 1 }, MODE = { NONE: 0 }, EDGE = { NONE: 0, RISING: 1, FALLING: 2, BOTH: 3 };

/** the fake: levels by pin, every open (config as given), and the edge threads left behind */
const sys = { level: {} as Record<number, boolean>, opens: [] as any[], threads: 0, open: new Set<number>(), broken: new Set<number>() };

function openSync(c: any) {
  if (typeof c.pin != "number" || c.pin < 0) throw new TypeError("Bad arguments gpio.pin should be a number");
  const dir = c.direction === undefined ? DIRECTION.OUT : c.direction, mode = c.mode === undefined ? 0 : c.mode,
    edge = c.edge === undefined ? EDGE.NONE : c.edge;
  if (typeof dir != "number" || dir >= 2) throw new TypeError("Bad arguments - gpio.direction should be DIRECTION.IN or OUT");
  if (typeof mode != "number" || mode >= 6) throw new TypeError("Bad arguments - gpio.mode should be MODE.NONE, PULLUP, PULLDOWN, FLOAT, PUSHPULL or OPENDRAIN");
  if (dir == DIRECTION.IN && mode > 2) throw new TypeError("Bad arguments - DIRECTION.IN only supports MODE.NONE, PULLUP and PULLDOWN");
  if (dir == DIRECTION.OUT && mode != 0 && mode < 3) throw new TypeError("Bad arguments - DIRECTION.OUT only supports MODE.NONE, FLOAT, PUSHPULL and OPENDRAIN");
  if (typeof edge != "number" || edge >= 4) throw new TypeError("Bad arguments - gpio.edge should be EDGE.NONE, RISING, FALLING or BOTH");
  sys.opens.push({ ...c });
  // iotjs_module_gpio-linux.c gpio_set_edge: an input with an edge starts its thread, then fails the open
  if (dir == DIRECTION.IN && edge != EDGE.NONE) { sys.threads++; throw new Error("Open error, cannot open GPIO"); }
  const pin = c.pin;
  let closed = false;
  sys.open.add(pin);
  const live = () => { if (closed) throw new Error("GPIO pin is not opened"); };
  return {
    readSync() {
      live();
      if (sys.broken.has(pin)) throw new Error("Read error, cannot read GPIO"); // the value file went away
      return !!sys.level[pin];
    },
    writeSync(v: any) {
      live();
      if (typeof v != "number" && typeof v != "boolean") throw new TypeError("GPIO WriteSync Error - Wrong argument type");
      sys.level[pin] = !!v;
    },
    closeSync() { live(); closed = true; sys.open.delete(pin); },
    setDirectionSync() { live(); },
  };
}
const fakeGpio = { open() { throw new Error("the shim uses openSync"); }, openSync, DIRECTION, EDGE, MODE };

let board: typeof import("../../boards/iotjs").board;

describe("iotjs board shim against IoT.js 1.0's Linux gpio", () => {
  beforeAll(async () => {
    // __REQUIRE__ becomes the engine's require in a bundle; here the fake stands in for IoT.js's modules
    (globalThis as any).__REQUIRE__ = (m: string) => {
      if (m == "gpio") return fakeGpio;
      throw new Error(`module ${m} is not faked here`);
    };
    board = (await import("../../boards/iotjs")).board;
  });
  afterAll(() => { delete (globalThis as any).__REQUIRE__; });
  beforeEach(() => { vi.useFakeTimers(); sys.opens = []; sys.threads = 0; });
  afterEach(() => { vi.useRealTimers(); });

  it("opens a digital input without an edge and reads its level", () => {
    sys.level[17] = true;
    expect(board.pins.read("17")).toBe(true);
    sys.level[17] = false;
    expect(board.pins.read("17")).toBe(false);
    expect(sys.opens).toEqual([{ pin: 17, direction: DIRECTION.IN, mode: MODE.NONE }]);
    expect(sys.threads).toBe(0);
  });

  it("a pull-up input opens too (Linux has MODE.NONE only: the mode is left to IoT.js's default)", () => {
    sys.level[4] = true;
    board.pins.mode("4", "up");
    expect(board.pins.read("4")).toBe(true);
    expect(sys.opens).toHaveLength(1);
    expect(sys.opens[0]).toMatchObject({ pin: 4, direction: DIRECTION.IN });
    expect(sys.opens[0].edge).toBeUndefined();
  });

  it("drives an output; a pin turned from input to output is closed and opened again", () => {
    sys.level[22] = true;
    expect(board.pins.read("22")).toBe(true);
    board.pins.write("22", false);
    expect(sys.level[22]).toBe(false);
    board.pins.write("22", true);
    expect(sys.level[22]).toBe(true);
    expect(sys.opens.map((o) => o.direction)).toEqual([DIRECTION.IN, DIRECTION.OUT]);
    expect(sys.open.has(22)).toBe(true);
  });

  it("watch polls the level (no change event in IoT.js) and reports a change stable for the debounce", () => {
    const got: boolean[] = [];
    sys.level[23] = false;
    const h = board.pins.watch("23", (v) => got.push(v), 50);
    expect(sys.opens).toEqual([{ pin: 23, direction: DIRECTION.IN, mode: MODE.NONE }]);
    sys.level[23] = true;
    vi.advanceTimersByTime(40);
    sys.level[23] = false; // a bounce shorter than 50 ms: nothing
    vi.advanceTimersByTime(200);
    expect(got).toEqual([]);
    sys.level[23] = true;
    vi.advanceTimersByTime(60);
    expect(got).toEqual([]); // seen at the first poll (20 ms), stable for 40 ms so far
    vi.advanceTimersByTime(20);
    expect(got).toEqual([true]);
    vi.advanceTimersByTime(200);
    expect(got).toEqual([true]);
    board.pins.unwatch(h);
    sys.level[23] = false;
    vi.advanceTimersByTime(200);
    expect(got).toEqual([true]);
    expect(sys.threads).toBe(0);
  });

  it("watch with no debounce reports at the next poll; a read error in a poll is skipped", () => {
    const got: boolean[] = [];
    sys.level[24] = false;
    const h = board.pins.watch("24", (v) => got.push(v), 0);
    sys.level[24] = true;
    vi.advanceTimersByTime(20);
    expect(got).toEqual([true]);
    sys.broken.add(24);
    vi.advanceTimersByTime(100); // no throw out of the timer (it would end IoT.js)
    sys.broken.delete(24);
    sys.level[24] = false;
    vi.advanceTimersByTime(20);
    expect(got).toEqual([true, false]);
    board.pins.unwatch(h);
  });

  it("free memory is null: IoT.js gives JavaScript no memory figure", () => {
    expect(board.diag.mem()).toBeNull();
  });
});

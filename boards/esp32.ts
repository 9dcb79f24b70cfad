// ESP32 running Espruino: WiFi (MAC as id), TCP and TLS sockets, pins, Storage, deep sleep (battery
// mode: the RTC timer wakes the chip with a reset; the pads are released while it sleeps).
import type { Board } from "./board";
import { espruinoBoard, wifi } from "./espruino-common";

declare var ESP32: { deepSleep(us: number): void };
// ESP32.deepSleep(us): an int (at most 35 min, build/config.mjs checks)
function deepSleep(ms: number) { ESP32.deepSleep(ms * 1000); }
declare const __SLEEP__: boolean;
var w = wifi();
if (typeof __SLEEP__ == "undefined" || __SLEEP__) w.sleep = deepSleep;
export const board: Board = espruinoBoard("esp32", w, true);

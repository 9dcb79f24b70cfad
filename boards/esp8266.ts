// ESP8266 running Espruino: WiFi (MAC as id), TCP sockets only (no TLS: too little RAM), pins, Storage,
// deep sleep (battery mode: the RTC wakes the chip through GPIO16 wired to RST, a reset; the pins are
// not held while it sleeps).
import type { Board } from "./board";
import { espruinoBoard, wifi } from "./espruino-common";

// ESP8266.deepSleep(micros): a uint32 (at most 71 min, build/config.mjs checks)
function deepSleep(ms: number) { __REQUIRE__("ESP8266").deepSleep(ms * 1000); }
declare const __SLEEP__: boolean;
var w = wifi();
if (typeof __SLEEP__ == "undefined" || __SLEEP__) w.sleep = deepSleep;
export const board: Board = espruinoBoard("esp8266", w);

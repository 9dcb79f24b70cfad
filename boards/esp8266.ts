// ESP8266 running Espruino: WiFi (MAC as id), TCP sockets only (no TLS: too little RAM), pins, Storage.
import type { Board } from "./board";
import { espruinoBoard, wifi } from "./espruino-common";

export const board: Board = espruinoBoard("esp8266", wifi());

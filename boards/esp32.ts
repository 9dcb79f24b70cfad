// ESP32 running Espruino: WiFi (MAC as id), TCP and TLS sockets, pins, Storage.
import type { Board } from "./board";
import { espruinoBoard, wifi } from "./espruino-common";

export const board: Board = espruinoBoard("esp32", wifi(), true);

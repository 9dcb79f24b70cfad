// Espruino built for Linux (Raspberry Pi and the like): the OS owns the network, so it is always up.
// Id: the first real MAC in /sys/class/net, else an id made once and kept in Storage. Math.random and
// getSerial() give the same values in every Espruino process on Linux, so the made id mixes in the
// clock's microseconds too.
import type { Board } from "./board";
import { alwaysUp, espruinoBoard, linuxSleep, type Link } from "./espruino-common";
import { sysMac } from "./sysmac";

declare var getTime: () => number;

function linuxId(): string {
  var S: any, i: number, id = sysMac(String);
  if (!id) {
    S = __REQUIRE__("Storage");
    id = S.readJSON("mq.id", true) || "";
    if (!id) {
      for (i = 0; i < 3; i++) id += ("00000" + Math.floor((Math.random() + getTime() * 1e6 % 1e6 / 1e6) % 1 * 0x1000000).toString(16)).substr(-4);
      S.writeJSON("mq.id", id);
    }
  }
  return id;
}
declare const __SLEEP__: boolean;
var link: Link = { net: alwaysUp, id: linuxId };
// battery mode: an emulated sleep (Linux has no deep sleep of its own)
if (typeof __SLEEP__ == "undefined" || __SLEEP__) link.sleep = linuxSleep;
export const board: Board = espruinoBoard("espruino-linux", link, true);

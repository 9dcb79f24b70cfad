// Commands: <base>/<id>/cmd/<actuator> sets an actuator, cmd/telemetry publishes telemetry now.
// Anything else (an unknown name, a payload that is not a value, a value out of range) is rejected
// with the reason and changes nothing.
import { decodeUtf8 } from "../mqtt/utf8";
import { Actuator, find, parse } from "./actuators";

/** A message handler for the cmd/+ subscription. */
export function commands(acts: Actuator[], set: (a: Actuator, v: number) => void, now: (net: 1) => void,
  reject: (cmd: string, payload: string | null, why: string) => void) {
  return function (topic: string, payload: string) {
    var name = topic.substr(topic.lastIndexOf("/") + 1), p = decodeUtf8(payload), a = find(acts, name), v: number | string;
    if (name == "telemetry") return now(1);
    if (!a) return reject(name, p, "unknown actuator");
    v = parse(p, a);
    if (typeof v == "string") reject(name, p, v);
    else set(a, v);
  };
}

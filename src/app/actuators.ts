// Actuators: digital outputs (0/1) and PWM outputs (0..max). A command payload becomes a value here, or
// an error saying why not; the pin is driven, and the state is what state/<name> carries.
import type { Board } from "../../boards/board";
import type { ActuatorConfig } from "./config";

export interface Actuator {
  c: ActuatorConfig;
  /** current value: 0/1, or 0..max */
  v: number;
  /** pwm: the last value other than 0, what ON restores */
  on: number;
}

declare const __PWM__: boolean;

/** Drive the pin for value `v` (already checked). */
export function drive(a: Actuator, v: number, b: Board) {
  var c = a.c, m = c.max || 1;
  a.v = v;
  if (v) a.on = v;
  if ((typeof __PWM__ == "undefined" || __PWM__) && c.type == "pwm") b.pins.pwm(c.pin, c.invert ? 1 - v / m : v / m, c.freq);
  else b.pins.write(c.pin, !!v != !!c.invert);
}

/** state/<name> payload: ON/OFF, or the number */
export function stateOf(a: Actuator): string {
  return a.c.type == "pwm" ? "" + a.v : a.v ? "ON" : "OFF";
}

/**
 * Command payload (a JS string; null when it was not UTF-8) -> new value, or an error string.
 * ON/OFF/TOGGLE/true/false (any case), numbers (digital: 0/1; pwm: 0..max), or JSON {"state": any of those}.
 */
export function parse(p: string | null, a: Actuator): number | string {
  var s: any = p == null ? p : p.trim(), m = a.c.max || 1, n: number;
  if (s && s.charAt(0) == "{") {
    try { s = JSON.parse(s).state; } catch (e) { s = null; }
    if (s != null) s = ("" + s).trim();
  }
  if (s == null) return "bad payload";
  s = s.toUpperCase();
  if (s == "ON" || s == "TRUE") return a.c.type == "pwm" ? a.on || m : 1;
  if (s == "OFF" || s == "FALSE") return 0;
  if (s == "TOGGLE") return a.v ? 0 : a.on || m;
  n = +s;
  if (s == "" || n != n) return "bad payload";
  return n < 0 || n > m || (a.c.type != "pwm" && n != (n | 0)) ? "out of range 0.." + m : n;
}

/** the actuator called `name`, if configured */
export function find(acts: Actuator[], name: string): Actuator | undefined {
  for (var i = 0; i < acts.length; i++) if (acts[i].c.name == name) return acts[i];
}

/** Make the actuators and drive each pin to its safe state at once. */
export function actuators(list: ActuatorConfig[], b: Board): Actuator[] {
  var r: Actuator[] = [], i = 0, a: Actuator;
  for (; i < list.length; i++) {
    r.push(a = { c: list[i], v: 0, on: 0 });
    drive(a, list[i].init || 0, b);
  }
  return r;
}

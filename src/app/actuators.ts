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

/**
 * Command payload (a JS string; null when it was not UTF-8) -> new value, or an error string.
 * ON/OFF/TOGGLE/true/false (any case), numbers (digital: 0/1; pwm: 0..max), or JSON {"state": any of those}.
 * ON restores `on`, the last value other than 0 (a digital output's is 1), else max (1 for digital).
 */
export function parse(p: string | null, a: Actuator): number | string {
  var s: any = p, m = a.c.max || 1, n: number;
  // null (not UTF-8) throws at trim, bad JSON at parse: both are a bad payload
  try { if ((s = s.trim()).charAt(0) == "{") s = JSON.parse(s).state; } catch (e) { s = null; }
  s = s == null ? "" : ("" + s).trim().toUpperCase();
  n = s == "ON" || s == "TRUE" || s == "TOGGLE" && !a.v ? a.on || m : s == "OFF" || s == "FALSE" || s == "TOGGLE" ? 0 : +s;
  return s == "" || n != n ? "bad payload" : n < 0 || n > m || !((typeof __PWM__ == "undefined" || __PWM__) && a.c.type == "pwm") && n != (n | 0) ? "out of range 0.." + m : n;
}

/** the actuator called `name`, if configured */
export function find(acts: Actuator[], name: string): Actuator | undefined {
  for (var i = 0; i < acts.length; i++) if (acts[i].c.name == name) return acts[i];
}

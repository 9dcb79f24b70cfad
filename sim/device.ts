// What the simulated board offers the page, derived from the validated config (build/config.mjs):
// each sensor becomes a control (a slider in the sensor's own unit, a push button) and each actuator an
// indicator. Pure: unit-tested in test/unit/sim-device.test.ts.
import type { Config } from "../src/app/config";

export type SensorKind = "analog" | "button" | "temperature" | "none";

export interface SensorInfo {
  name: string;
  label: string;
  kind: SensorKind;
  /** sensor type in the config (analog, digital, temperature, ds18b20...) */
  type: string;
  pin: string | null;
  /** the control's range and step, in the sensor's unit (value = raw * scale + offset) */
  min: number;
  max: number;
  step: number;
  unit: string;
  /** the starting value (analog, temperature); 0 = released (button) */
  value: number;
  /** a temperature: the simulator adds a slow random walk around the control's value */
  drift: boolean;
  /** analog */
  scale?: number;
  offset?: number;
  /** digital: the pin level that reads `true` is low */
  invert?: boolean;
}

export interface ActuatorInfo {
  name: string;
  label: string;
  kind: "digital" | "pwm";
  pin: string;
  /** pwm: full scale of commands (1 or 100) */
  max: number;
  invert: boolean;
  /** Home Assistant component: switch, light, number */
  component: string;
}

/** The parsed device.json: its units, labels and device classes (the compiled config keeps them only
 *  in its Home Assistant entities, which are absent when discovery is off). */
export interface RawConfig { sensors?: any[]; actuators?: any[] }

function haFields(c: Config, name: string, raw?: RawConfig): { comp?: string; f: Record<string, any> } {
  const e = c.ha && c.ha.entities && c.ha.entities.find((x) => x[1] === name);
  if (e) return { comp: e[0], f: e[2] };
  const r = (raw && (raw.sensors || []).concat(raw.actuators || []).find((x: any) => x && x.name === name)) || {};
  return { comp: r.component, f: { name: r.label, unit_of_meas: r.unit, dev_cla: r.device_class } };
}
/** Espruino pin name: 2 and "2" are "D2" */
export function pinName(p: unknown): string { return typeof p === "number" || /^\d+$/.test(String(p)) ? "D" + p : String(p); }
function titled(n: string) { return n.charAt(0).toUpperCase() + n.slice(1).replace(/_/g, " "); }
const round = (v: number, step: number) => Math.round(v / step) * step;
/** a step as a number with no float noise: 0.1, not 0.1000000001 */
const clean = (v: number) => Number(v.toPrecision(12));

export function sensorInfo(c: Config, raw?: RawConfig): SensorInfo[] {
  return c.sensors.map((s) => {
    const { f } = haFields(c, s.name, raw);
    const unit: string = f.unit_of_meas || "";
    const base = { name: s.name, label: f.name || titled(s.name), type: s.type, pin: s.pin == null ? null : pinName(s.pin), unit };
    const hot = f.dev_cla === "temperature" || unit === "°C" || unit === "°F";
    if (s.type === "analog") {
      const scale = s.scale == null ? 1 : s.scale, offset = s.offset || 0;
      const lo = Math.min(offset, offset + scale), hi = Math.max(offset, offset + scale);
      // a step no finer than the precision the firmware publishes, and at most ~1000 positions
      let step = clean(1 / (s.round || 100));
      while ((hi - lo) / step > 1000) step = clean(step * 10);
      const start = hot && 21 >= lo && 21 <= hi ? 21 : lo + (hi - lo) * 0.3;
      return { ...base, kind: "analog", min: lo, max: hi, step, value: clean(round(start, step)), drift: hot, scale, offset };
    }
    if (s.type === "digital") return { ...base, kind: "button", min: 0, max: 1, step: 1, value: 0, drift: false, invert: !!s.invert };
    if (s.type === "temperature")
      return { ...base, unit: unit || "°C", kind: "temperature", min: -20, max: 100, step: 0.5, value: 45, drift: true };
    // ds18b20, dht22, custom drivers: no emulated bus; they read null and report an error
    return { ...base, kind: "none", min: 0, max: 0, step: 1, value: 0, drift: false };
  });
}

export function actuatorInfo(c: Config, raw?: RawConfig): ActuatorInfo[] {
  return c.actuators.map((a) => {
    const { comp, f } = haFields(c, a.name, raw);
    return {
      name: a.name, label: f.name || titled(a.name), kind: a.type === "pwm" ? "pwm" : "digital", pin: pinName(a.pin),
      max: a.type === "pwm" ? a.max || 100 : 1, invert: !!a.invert, component: comp || (a.type === "pwm" ? "light" : "switch"),
    };
  });
}

/** The analog pin's raw reading (0..1 of full scale) that makes an analog sensor read `v`. */
export function rawFor(s: SensorInfo, v: number): number {
  const raw = (v - (s.offset || 0)) / (s.scale || 1);
  return Math.min(1, Math.max(0, raw));
}

/** A slow random walk around 0 (a room's temperature wandering): each step moves by up to ±`step`,
 *  pulled back towards 0 so it stays within about ±`limit`. `rnd` is in [0, 1). */
export function driftStep(walk: number, rnd: number, step = 0.06, limit = 0.4): number {
  const next = walk + (rnd - 0.5) * 2 * step - walk * 0.08;
  return Math.max(-limit, Math.min(limit, next));
}

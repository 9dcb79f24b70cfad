// Home Assistant discovery messages (src/app/discovery.ts with entities made by build/config.mjs):
// topics, the fields Home Assistant requires per component once its abbreviations and "~" are expanded
// (as homeassistant/components/mqtt/discovery.py does), availability, device info, unique ids.
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../build/config.mjs";
import { discovery } from "../../src/app/discovery";

// Home Assistant's abbreviations (homeassistant/components/mqtt/abbreviations.py) for the keys we send
const ABBR: Record<string, string> = {
  avty_t: "availability_topic", bri_cmd_t: "brightness_command_topic", bri_cmd_tpl: "brightness_command_template",
  bri_scl: "brightness_scale", bri_stat_t: "brightness_state_topic", bri_val_tpl: "brightness_value_template",
  cmd_t: "command_topic", dev: "device", dev_cla: "device_class", ent_cat: "entity_category", ic: "icon",
  on_cmd_type: "on_command_type", pl_off: "payload_off", pl_on: "payload_on", stat_cla: "state_class",
  stat_t: "state_topic", stat_val_tpl: "state_value_template", uniq_id: "unique_id", unit_of_meas: "unit_of_measurement",
  val_tpl: "value_template",
};
const DEVICE_ABBR: Record<string, string> = { ids: "identifiers", mf: "manufacturer", mdl: "model", sw: "sw_version", name: "name" };
const FULL = new Set(["name", "min", "max", "step", "~"]);

/** expand a discovery payload like Home Assistant: abbreviations, then "~" at the start or end of *_topic values */
function expand(json: string) {
  const o = JSON.parse(json), r: any = {};
  for (const k in o) {
    if (!ABBR[k] && !FULL.has(k)) throw new Error("not a Home Assistant discovery key: " + k);
    r[ABBR[k] || k] = o[k];
  }
  if (r.device) {
    const d: any = {};
    for (const k in r.device) { if (!DEVICE_ABBR[k]) throw new Error("not a device key: " + k); d[DEVICE_ABBR[k]] = r.device[k]; }
    r.device = d;
  }
  const base = r["~"];
  delete r["~"];
  for (const k in r) if (k.endsWith("_topic") && typeof r[k] == "string") {
    if (r[k].startsWith("~")) r[k] = base + r[k].slice(1);
    else if (r[k].endsWith("~")) r[k] = r[k].slice(0, -1) + base;
  }
  return r;
}

const CONFIG = {
  name: "Bench",
  broker: { host: "h" },
  sensors: [
    { name: "temp", type: "analog", pin: "A0", unit: "°C", device_class: "temperature", label: "Air temperature" },
    { name: "door", type: "digital", pin: "D4", device_class: "door" },
  ],
  actuators: [
    { name: "relay", type: "digital", pin: "D5", device_class: "outlet" },
    { name: "led", type: "digital", pin: "D12", component: "light" },
    { name: "lamp", type: "pwm", pin: "D13" },
    { name: "dim", type: "pwm", pin: "D14", max: 1 },
    { name: "fan", type: "pwm", pin: "D15", component: "number" },
  ],
};

function messages(cfg: any = CONFIG, id = "abc123") {
  const c = validateConfig(cfg, "esp8266", {}, "1.2.3"), out: Record<string, any> = {};
  discovery(c, id, "esp8266", (t, json) => { out[t] = { raw: json, ...expand(json) }; });
  return out;
}

describe("Home Assistant discovery", () => {
  const m = messages();
  const at = (comp: string, obj: string) => m[`homeassistant/${comp}/abc123/${obj}/config`];

  it("one config topic per entity: <prefix>/<component>/<id>/<object>/config", () => {
    expect(Object.keys(m).sort()).toEqual([
      "homeassistant/binary_sensor/abc123/door/config",
      "homeassistant/light/abc123/dim/config",
      "homeassistant/light/abc123/lamp/config",
      "homeassistant/light/abc123/led/config",
      "homeassistant/number/abc123/fan/config",
      "homeassistant/sensor/abc123/rssi/config",
      "homeassistant/sensor/abc123/temp/config",
      "homeassistant/sensor/abc123/uptime/config",
      "homeassistant/switch/abc123/relay/config",
    ]);
  });

  it("every entity: unique id, name, availability on the status topic, the device", () => {
    for (const t in m) {
      const e = m[t], obj = t.split("/")[3];
      expect(e.unique_id).toBe("abc123_" + obj);
      expect(typeof e.name).toBe("string");
      expect(e.availability_topic).toBe("mcu/abc123/status");
      expect(e.device).toEqual({ identifiers: ["abc123"], name: "Bench", manufacturer: "mqtt-mcu", model: "esp8266", sw_version: "1.2.3" });
    }
  });

  it("sensor: state topic, value template into the telemetry JSON, unit, device and state class", () => {
    expect(at("sensor", "temp")).toMatchObject({ state_topic: "mcu/abc123/telemetry", value_template: "{{value_json.temp}}",
      unit_of_measurement: "°C", device_class: "temperature", state_class: "measurement", name: "Air temperature" });
    expect(at("sensor", "rssi")).toMatchObject({ value_template: "{{value_json.rssi}}", unit_of_measurement: "dBm",
      device_class: "signal_strength", entity_category: "diagnostic" });
    expect(at("sensor", "uptime")).toMatchObject({ value_template: "{{value_json.uptime}}", unit_of_measurement: "s", device_class: "duration" });
  });

  it("binary_sensor: the JSON boolean renders True/False, which the payloads match", () => {
    expect(at("binary_sensor", "door")).toMatchObject({ state_topic: "mcu/abc123/telemetry", value_template: "{{value_json.door}}",
      payload_on: "True", payload_off: "False", device_class: "door", name: "Door" });
  });

  it("switch: command and state topics (payloads ON/OFF are Home Assistant's defaults)", () => {
    const s = at("switch", "relay");
    expect(s).toMatchObject({ command_topic: "mcu/abc123/cmd/relay", state_topic: "mcu/abc123/state/relay", device_class: "outlet" });
    expect(s.payload_on).toBeUndefined();
  });

  it("light: on/off for a digital output; brightness 0-100 for PWM, with templates for a 0-1 range", () => {
    expect(at("light", "led")).toMatchObject({ command_topic: "mcu/abc123/cmd/led", state_topic: "mcu/abc123/state/led" });
    expect(at("light", "led").brightness_command_topic).toBeUndefined();
    expect(at("light", "lamp")).toMatchObject({ command_topic: "mcu/abc123/cmd/lamp", state_topic: "mcu/abc123/state/lamp",
      brightness_command_topic: "mcu/abc123/cmd/lamp", brightness_state_topic: "mcu/abc123/state/lamp", brightness_scale: 100,
      on_command_type: "brightness", state_value_template: "{{'ON' if value|float(0)>0 else 'OFF'}}" });
    expect(at("light", "lamp").brightness_command_template).toBeUndefined();
    expect(at("light", "dim")).toMatchObject({ brightness_scale: 100, brightness_command_template: "{{value/100}}",
      brightness_value_template: "{{(value|float(0)*100)|round}}" });
  });

  it("number: command and state topics, min, max, step, unit", () => {
    expect(at("number", "fan")).toMatchObject({ command_topic: "mcu/abc123/cmd/fan", state_topic: "mcu/abc123/state/fan",
      min: 0, max: 100, step: 1, unit_of_measurement: "%" });
  });

  it("the fields Home Assistant requires per component are all there", () => {
    const REQUIRED: Record<string, string[]> = { sensor: ["state_topic"], binary_sensor: ["state_topic"], switch: ["command_topic"],
      light: ["command_topic"], number: ["command_topic"] };
    for (const t in m) for (const f of REQUIRED[t.split("/")[1]]) expect(m[t][f], t + " " + f).toEqual(expect.any(String));
  });

  it("prefix, topic base and device name come from the config; ids from the device", () => {
    const m2 = messages({ ...CONFIG, name: undefined, base: "home/dev", homeassistant: { prefix: "ha", diagnostics: false } }, "kitchen");
    const relay = m2["ha/switch/kitchen/relay/config"];
    expect(relay).toMatchObject({ command_topic: "home/dev/kitchen/cmd/relay", availability_topic: "home/dev/kitchen/status", unique_id: "kitchen_relay" });
    expect(relay.device.name).toBe("kitchen");
    expect(Object.keys(m2).some((t) => t.includes("rssi"))).toBe(false);
  });

  it("compact payloads: abbreviations and the ~ base keep each message under 512 bytes (one string in an ESP8266's RAM)", () => {
    for (const t in m) expect(m[t].raw.length, t).toBeLessThan(512);
  });
});

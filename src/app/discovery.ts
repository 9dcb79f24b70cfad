// Home Assistant MQTT discovery: one retained config message per entity, at
// <prefix>/<component>/<id>/<object>/config. build/config.mjs fixed each entity's own fields (name,
// units, classes, light/number options); here go the parts that depend on the device id: the topic base
// "~", the unique id, availability on the status topic, the state/command topics and the device block.
import type { Config } from "./config";

/** Call `out(topic, json)` for every entity of the config. `model` is the board name. */
export function discovery(c: Config, id: string, model: string, out: (topic: string, json: string) => void) {
  var h = c.ha!, dev = { ids: [id], name: c.name || id, mf: "mqtt-mcu", mdl: model, sw: c.sw }, i = 0, e, n, a, o: any, k: string;
  for (; i < h.entities.length; i++) {
    e = h.entities[i];
    n = e[1];
    // sensors (sensor, binary_sensor) read their value from the telemetry JSON; actuators have their own
    // state and command topics
    a = e[0].indexOf("sensor") < 0;
    o = { "~": c.base + "/" + id, uniq_id: id + "_" + n, avty_t: "~/status", dev: dev, stat_t: a ? "~/state/" + n : "~/telemetry" };
    o[a ? "cmd_t" : "val_tpl"] = a ? "~/cmd/" + n : "{{value_json." + n + "}}";
    for (k in e[2]) o[k] = e[2][k];
    out(h.prefix + "/" + e[0] + "/" + id + "/" + n + "/config", JSON.stringify(o));
  }
}

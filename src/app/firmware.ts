// The firmware: config + board -> a device on MQTT. Actuators go to their safe state at once, the
// sensor loop starts (telemetry is queued by the client while offline), and every connect announces
// the device: status online, actuator states (after the last ones were restored), Home Assistant
// discovery. Nothing from secrets (WiFi/MQTT passwords, TLS keys) is ever logged or published.
// Availability: <base>/<id>/status is "online" (retained) from each connect, and "offline" (retained)
// when the link dies without a DISCONNECT: the broker publishes the will for us.
// Commands: <base>/<id>/cmd/<actuator> sets an actuator, cmd/telemetry publishes telemetry now.
// Anything else (an unknown name, a payload that is not a value, a value out of range) is rejected
// with the reason on the error topic and changes nothing.
import type { Board } from "../../boards/board";
import type { Config } from "./config";
import { createClient, Client } from "../mqtt/client";
import { decodeUtf8 } from "../mqtt/utf8";
import { wsTransport } from "../net/ws";
import { Actuator, drive, find, parse } from "./actuators";
import { discovery } from "./discovery";
import { telemetry } from "./telemetry";

// build flags (build/config.mjs firmwareDefines; undefined in tests: everything is there)
declare const __WS__: boolean, __HA__: boolean, __STORE__: boolean, __TLS__: boolean, __RESTORE__: string;

export interface Firmware {
  /** the device id in use (config id, or the board's) */
  id: string;
  client: Client;
  actuators: Actuator[];
  /** publish telemetry now */
  telemetry(): void;
  /** stop the loop and drop the link without DISCONNECT (as a power cut: the broker sends the will) */
  stop(): void;
}

export function start(c: Config, b: Board): Firmware {
  var r = typeof __RESTORE__ == "undefined" ? c.restore : __RESTORE__, id = c.id || b.id(), base = c.base + "/" + id + "/", m: any = c.broker, clk = b.clock,
    acts: Actuator[] = [], restoring = r == "retained", touched: { [n: string]: number } = {},
    store = (typeof __STORE__ == "undefined" || __STORE__) && r == "storage",
    connects = 0, timer: any = 0, wt: any = 0, stopped = false, i: number, s: any, o: any, client: Client, tele: any;

  // the actuators, each driven to its safe state at once
  for (i = 0; i < c.actuators.length; i++) {
    acts.push(o = { c: c.actuators[i], v: 0, on: 0 });
    drive(o, c.actuators[i].init || 0, b);
  }

  function pub(topic: string, p: string, retain?: boolean) {
    client.publish(base + topic, p, { retain: retain });
  }

  // error topic: what was rejected and why (with the payload, cut short, for a command; null: not UTF-8)
  function report(kind: string, name: string, why: string, p?: string | null) {
    var o: any = {};
    o[kind] = name;
    if (p !== undefined) o.payload = p && p.substr(0, 64);
    o.error = why;
    pub("error", JSON.stringify(o));
  }

  // state/<name>, retained: ON/OFF, or the number
  function echo(a: Actuator) {
    pub("state/" + a.c.name, a.c.type == "pwm" ? "" + a.v : a.v ? "ON" : "OFF", true);
  }

  // Storage: written 5 s after the last change, not per command (flash wear: a slider sends many)
  function save() {
    wt = 0;
    for (var j = 0; j < acts.length; j++) b.store.set("a." + acts[j].c.name, "" + acts[j].v);
  }

  function announce() {
    timer = 0;
    for (var j = 0; j < acts.length; j++) echo(acts[j]);
    if ((typeof __HA__ == "undefined" || __HA__) && c.ha) discovery(c, id, b.name, function (t, json) { client.publish(t, json, { retain: true }); });
  }

  // restore: the value kept in Storage now; the retained state topic once connected (below)
  if (typeof __STORE__ == "undefined" || __STORE__)
    for (i = 0; store && i < acts.length; i++)
      if ((s = b.store.get("a." + acts[i].c.name)) != null && typeof (s = parse(s, acts[i])) == "number") drive(acts[i], s, b);

  // the broker section already holds host, port, username, password, keepalive and queue
  o = {};
  for (s in m) o[s] = m[s];
  o.transport = (typeof __TLS__ == "undefined" || __TLS__) && m.tls ? b.tls!(m.tls) : b.tcp;
  if ((typeof __WS__ == "undefined" || __WS__) && m.ws) o.transport = wsTransport(o.transport, { path: m.ws });
  o.clock = clk; o.clientId = id;
  o.will = { topic: base + "status", payload: "offline", qos: 1, retain: true };
  client = createClient(o);

  tele = telemetry(c, b, function (o: any) {
    var d = b.diag;
    o.uptime = Math.round(d.uptime());
    o.mem = d.mem();
    o.rssi = d.rssi();
    o.reconnects = connects > 1 ? connects - 1 : 0;
    pub("telemetry", JSON.stringify(o));
  }, function (name, why) { report("sensor", name, why); });

  client.on("error", function (e: any) { b.log("mqtt " + e.code + ": " + e.message); });
  client.on("message", function (t: string, p: string) {
    var a: Actuator | undefined;
    // a retained state from before the reboot, unless a command came first (the flag first: this runs for
    // every incoming message, long after the restore)
    if (restoring && t.indexOf(base + "state/") == 0 && (a = find(acts, t.substr(base.length + 6))) && !touched[a.c.name] && typeof (p = parse(decodeUtf8(p), a) as any) == "number") drive(a, p as any, b);
  });
  client.on("connect", function () {
    connects++;
    pub("status", "online", true);
    if (restoring) {
      // the broker answers SUBSCRIBE with the retained states, then the UNSUBSCRIBE: restore is complete
      client.subscribe(base + "state/+");
      client.unsubscribe(base + "state/+", function () { restoring = false; announce(); });
    } else timer = clk.setTimer(announce, 0); // after what was queued offline
  });
  // commands: the topic is <base>cmd/<name>
  client.subscribe(base + "cmd/+", {
    handler: function (t: string, p: any) {
      var n = t.substr(base.length + 4), a = find(acts, n), v: number | string;
      p = decodeUtf8(p);
      if (n == "telemetry") return tele.now(1);
      v = a ? parse(p, a) : "unknown actuator";
      if (typeof v == "string") return report("cmd", n, v, p);
      touched[n] = 1;
      drive(a!, v, b);
      echo(a!);
      // (the define test drops this and save() from builds without restore "storage")
      if ((typeof __STORE__ == "undefined" || __STORE__) && store) {
        if (wt) clk.clearTimer(wt);
        wt = clk.setTimer(save, 5000);
      }
    },
  });

  // network (back) up: connect now, dropping an attempt that was made while it was down (on Espruino such
  // a socket never opens: it would hold the next try until the CONNACK timeout)
  b.net.on("up", function () { if (!stopped && !client.connected) client.end(true).connect(); });
  b.net.start(c.wifi as any);

  return {
    id: id,
    client: client,
    actuators: acts,
    telemetry: tele.now,
    stop: function () {
      stopped = true;
      tele.stop();
      // a fired timer's id may be reused: Espruino would clear another
      if (timer) clk.clearTimer(timer);
      if (wt) clk.clearTimer(wt);
      timer = wt = 0;
      client.end(true);
    },
  };
}

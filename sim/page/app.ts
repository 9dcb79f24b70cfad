// The simulator's page. The board's pins and sensors come from the simulator over HTTP (/api/info,
// /api/input, /api/events); everything MQTT goes through the broker over WebSocket with our own client
// (the core the board runs, with the WHATWG WebSocket transport). Bundled by sim/main.ts with esbuild.
import { createClient } from "../../src/mqtt/client";
import { wsObjectTransport } from "../../src/net/wsobject";
import { decodeUtf8 } from "../../src/mqtt/utf8";
import type { ActuatorInfo, SensorInfo } from "../device";
import type { BoardSnapshot } from "../board";
import { otaResult, type OtaView } from "../ota";

/** the board, and the update over MQTT as the simulator saw it on the broker (sim/main.ts) */
type Snapshot = BoardSnapshot & { ota?: OtaView };
import { timers } from "../../src/index";

interface Info {
  base: string; id: string; root: string; name: string; board: string; haPrefix: string; interval: number;
  /** battery mode: ms of deep sleep between wakes (0: always on) */
  sleep: number;
  firmware: { bytes: number; config: string };
  broker: { url: string; embedded: boolean };
  ws: { host: string; port: number; path: string };
  tcp: { host: string; port: number } | null;
  sensors: SensorInfo[];
  actuators: ActuatorInfo[];
  /** updates over MQTT: the command that updates the board, and the files it reads (null: the config
   *  has no "ota") */
  ota: { command: string; config: string; secrets: string } | null;
}

const $ = (id: string) => document.getElementById(id)!;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text) e.textContent = text;
  return e;
}
const fmt = (v: number, step = 0.01) => {
  const d = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
  return v.toFixed(d);
};
function pill(id: string, text: string, cls: "on" | "off" | "wait") { const p = $(id); p.textContent = text; p.className = "pill " + cls; }

// ---- the MQTT log ----
let root = "";
function log(topic: string, text: string, retain: boolean) {
  const box = $("log"), d = el("div", { class: "msg" });
  const toDevice = topic.startsWith(root + "/cmd/"), short = topic.startsWith(root + "/") ? "~" + topic.slice(root.length) : topic;
  d.append(el("span", { class: "t" }, new Date().toLocaleTimeString([], { hour12: false })),
    el("span", { class: toDevice ? "dir in" : "dir out", title: toDevice ? "to the board" : "from the board" }, toDevice ? "←" : "→"),
    el("span", { class: "topic" + (short === "~/error" ? " err" : "") }, short),
    el("span", { class: "payload" }, text.length > 300 ? text.slice(0, 299) + "…" : text));
  if (retain) d.append(el("span", { class: "flag" }, "retained"));
  box.prepend(d);
  while (box.childNodes.length > 150) box.lastChild!.remove();
}
function note(text: string, cls = "") {
  const d = el("div", { class: "msg note " + cls });
  d.append(el("span", { class: "t" }, new Date().toLocaleTimeString([], { hour12: false })), el("span", {}, text));
  $("log").prepend(d);
}

// ---- sensors: controls that set what the board's pins read ----
async function input(name: string, value: number) {
  const r = await fetch("/api/input", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name, value }) });
  if (!r.ok) note(`input ${name}: ${(await r.json().catch(() => ({}))).error || r.status}`, "err");
}
const readingEls: Record<string, HTMLElement> = {};

function sensorRow(s: SensorInfo) {
  const row = el("div", { class: "row" });
  const name = el("div", { class: "name" });
  name.append(el("span", {}, s.label), el("span", { class: "pin" }, s.pin || (s.kind === "temperature" ? "on-chip" : "")));
  row.append(name);
  const unit = s.unit ? " " + s.unit : "";
  if (s.kind === "button") {
    const b = el("button", { class: "press", "data-testid": "sensor-" + s.name }, "hold to press");
    // a press shorter than the firmware's debounce would be filtered out: hold it for 150 ms at least
    let down = 0, up: any = 0;
    const press = (e: Event) => { e.preventDefault(); clearTimeout(up); down = Date.now(); b.classList.add("down"); input(s.name, 1); };
    const release = () => {
      if (!down) return;
      const wait = Math.max(0, 150 - (Date.now() - down));
      down = 0;
      up = setTimeout(() => { b.classList.remove("down"); input(s.name, 0); }, wait);
    };
    b.addEventListener("pointerdown", press);
    b.addEventListener("pointerup", release);
    b.addEventListener("pointerleave", release);
    b.addEventListener("keydown", (e) => { if ((e.key === " " || e.key === "Enter") && !e.repeat && !down) press(e); });
    b.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") release(); });
    const r = el("output", { class: "reading", "data-testid": "reading-" + s.name }, "released");
    readingEls[s.name] = r;
    row.append(b, r);
  } else if (s.kind === "none") {
    row.append(el("span", { class: "dim" }, `${s.type}: not simulated (reads null)`));
  } else {
    const r = el("input", { type: "range", min: String(s.min), max: String(s.max), step: String(s.step), value: String(s.value),
      "data-testid": "sensor-" + s.name, "aria-label": s.label });
    const set = el("span", { class: "set" }, fmt(s.value, s.step) + unit);
    const o = el("output", { class: "reading", "data-testid": "reading-" + s.name, title: "what the pin reads now" }, "");
    readingEls[s.name] = o;
    r.addEventListener("input", () => { set.textContent = fmt(Number(r.value), s.step) + unit; input(s.name, Number(r.value)); });
    row.append(r, set, o);
    if (s.drift) row.title = "the reading drifts slowly around the set value, as a room's temperature does";
  }
  return row;
}

// ---- actuators: the pin as the board drives it, the state echoed over MQTT, commands ----
const ind: Record<string, HTMLElement> = {}, pinText: Record<string, HTMLElement> = {}, stateEls: Record<string, HTMLElement> = {};

function actuatorRow(a: ActuatorInfo, send: (name: string, cmd: string) => void) {
  const row = el("div", { class: "row" });
  const name = el("div", { class: "name" });
  const pt = el("span", { class: "pin", "data-testid": "pinname-" + a.name }, a.pin);
  pinText[a.name] = pt;
  name.append(el("span", {}, a.label), pt);
  let i: HTMLElement;
  if (a.kind === "pwm") {
    i = el("div", { class: "fan", "data-testid": "pin-" + a.name, "data-level": "0" });
    i.innerHTML = `<svg viewBox="-12 -12 24 24" width="30" height="30"><g class="blades"><path d="M0-2C-1-6 0-10 3-10s3 5-1 8z"/><path d="M0-2C-1-6 0-10 3-10s3 5-1 8z" transform="rotate(120)"/><path d="M0-2C-1-6 0-10 3-10s3 5-1 8z" transform="rotate(240)"/></g><circle r="2"/></svg>`;
  } else {
    i = el("div", { class: (a.component === "light" ? "led" : "relay") + " off", "data-testid": "pin-" + a.name, "data-level": "0" });
    if (a.component !== "light") i.textContent = "open";
  }
  ind[a.name] = i;
  const st = el("span", { class: "state", "data-testid": "state-" + a.name, title: "the state the board published on ~/state/" + a.name }, "–");
  stateEls[a.name] = st;
  const btns = el("div", { class: "btns" });
  if (a.kind === "pwm") {
    for (const v of [0, 50, 100]) {
      const cmd = String(a.max === 1 ? v / 100 : v);
      const b = el("button", { "data-testid": `cmd-${a.name}-${v}` }, v ? v + "%" : "off");
      b.onclick = () => send(a.name, cmd);
      btns.append(b);
    }
  } else {
    const b = el("button", { "data-testid": "toggle-" + a.name }, "toggle");
    b.onclick = () => send(a.name, "TOGGLE");
    btns.append(b);
  }
  row.append(name, i, st, btns);
  return row;
}

function showOutputs(s: Snapshot, info: Info) {
  for (const a of info.actuators) {
    const v = s.outputs[a.name], e = ind[a.name];
    if (!e || v === undefined) continue;
    e.setAttribute("data-level", String(v));
    pinText[a.name].textContent = s.pins[a.name];
    if (a.kind === "pwm") {
      const g = e.querySelector(".blades") as SVGGElement;
      e.classList.toggle("spin", v > 0);
      if (v > 0) g.style.animationDuration = (0.25 / v).toFixed(2) + "s";
    } else {
      e.classList.toggle("on", !!v); e.classList.toggle("off", !v);
      if (a.component !== "light") e.textContent = v ? "closed" : "open";
    }
  }
  for (const n in s.inputs) {
    const e = readingEls[n], sn = info.sensors.find((x) => x.name === n);
    if (!e || !sn) continue;
    e.textContent = sn.kind === "button" ? (s.inputs[n] ? "pressed" : "released") : "reads " + fmt(s.inputs[n], sn.step) + (sn.unit ? " " + sn.unit : "");
    e.classList.toggle("hot", sn.kind === "button" && !!s.inputs[n]);
  }
  // battery mode: awake, or asleep until its next wake
  if (info.sleep && s.power) {
    const p = s.power;
    pill("power", p.state === "asleep" ? `board: asleep · wakes in ${Math.ceil((p.wakesInMs || 0) / 1000)} s` : `board: awake${p.wakes ? ` · wake ${p.wakes}` : ""}`, p.state === "asleep" ? "wait" : "on");
    $("power").setAttribute("data-state", p.state);
  }
  const d = s.diag, f = facts;
  f.uptime.textContent = dur(d.uptime);
  f.heap.textContent = d.heapTotal ? `${d.heapUsed.toLocaleString()} of ${d.heapTotal.toLocaleString()} QuickJS blocks (not Espruino JsVars)` : "–";
  f.wifi.textContent = d.rssi == null ? "down" : `${d.rssi} dBm`;
  f.sockets.textContent = String(d.sockets) + (d.uncaught ? ` · ${d.uncaught} uncaught error${d.uncaught > 1 ? "s" : ""}` : "");
  showFirmware(s, info);
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
const clock = (t: number) => new Date(t).toLocaleTimeString([], { hour12: false });

// ---- the firmware running, and an update over MQTT ----
function showFirmware(s: Snapshot, info: Info) {
  const fw = s.fw, f = facts;
  if (!fw) return;
  f.version.textContent = fw.version == null ? "– (not booted by the boot selector: no \"ota\" in the config)"
    : `${fw.version} · slot ${fw.slot} · ${fw.bytes.toLocaleString()} bytes` + (fw.trial ? " · on trial: confirms once online" : "") + (fw.rolledBack ? " · after a rollback" : "");
  f.boots.textContent = String(fw.boots) + (s.diag.rebooted ? ` · ${plural(s.diag.rebooted, "reboot")}` : "") + (s.power && s.power.wakes ? ` · ${plural(s.power.wakes, "wake")}` : "");
  const v = s.ota;
  if (!info.ota || !v) return;
  const box = $("ota"), bar = $("ota-progress") as HTMLProgressElement, st = $("ota-state"), res = $("ota-result");
  box.setAttribute("data-phase", v.phase);
  bar.hidden = v.phase === "idle";
  bar.max = v.total || 1;
  bar.value = v.received;
  st.textContent = v.phase === "receiving" ? `receiving ${v.to}: ${v.received.toLocaleString()} of ${v.total.toLocaleString()} bytes (${Math.floor((v.received * 100) / (v.total || 1))} %)`
    : v.phase === "verifying" ? `${v.to}: ${v.total.toLocaleString()} bytes received, verifying`
    : v.phase === "rebooting" ? `${v.to} verified: rebooting into it`
    : "no update under way";
  if (v.result) {
    res.textContent = `last update: ${otaResult(v.result)} at ${clock(v.result.at)}`;
    res.className = "ota-result " + (v.result.s === "updated" ? "ok" : "bad");
    res.setAttribute("data-result", v.result.s);
  }
}
const dur = (s: number) => s < 60 ? s + " s" : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor(s / 60) % 60} min`;

// ---- telemetry sparklines ----
const series: Record<string, number[]> = {};
const W = 300, H = 46, N = 40;
function spark(key: string, label: string, v: number, unit: string, step: number, text?: string) {
  const s = series[key] || (series[key] = []);
  s.push(v);
  if (s.length > N) s.shift();
  let box = document.getElementById("spark-" + key);
  if (!box) {
    box = el("div", { class: "spark", id: "spark-" + key });
    box.innerHTML = `<div class="n"></div><div class="v"><b data-testid="tele-${key}"></b><span class="u"></span></div>` +
      `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><path class="area"/><polyline/><circle r="2.5"/></svg><div class="range"></div>`;
    (box.querySelector(".n") as HTMLElement).textContent = label;
    (box.querySelector(".u") as HTMLElement).textContent = unit;
    $("sparks").append(box);
  }
  (box.querySelector("b") as HTMLElement).textContent = text ?? fmt(v, step);
  let min = Math.min(...s), max = Math.max(...s);
  if (max - min < step * 4) { const m = (max + min) / 2; min = m - step * 2; max = m + step * 2; }
  // the newest point at the right edge; a short history is spread over the whole width
  const dx = (W - 8) / Math.max(1, s.length - 1), x = (i: number) => W - 4 - (s.length - 1 - i) * dx, y = (q: number) => H - 4 - ((q - min) / (max - min)) * (H - 8);
  // booleans as steps
  const pts: string[] = [];
  s.forEach((q, i) => { if (text !== undefined && i) pts.push(`${x(i).toFixed(1)},${y(s[i - 1]).toFixed(1)}`); pts.push(`${x(i).toFixed(1)},${y(q).toFixed(1)}`); });
  box.querySelector("polyline")!.setAttribute("points", pts.join(" "));
  box.querySelector(".area")!.setAttribute("d", `M${x(0).toFixed(1)},${H} L${pts.join(" L")} L${x(s.length - 1).toFixed(1)},${H} Z`);
  const c = box.querySelector("circle")!;
  c.setAttribute("cx", x(s.length - 1).toFixed(1)); c.setAttribute("cy", y(v).toFixed(1));
  (box.querySelector(".range") as HTMLElement).textContent = text !== undefined ? `${s.filter((q) => q).length} of the last ${s.length} pressed`
    : s.length > 1 ? `${fmt(Math.min(...s), step)} … ${fmt(Math.max(...s), step)}${unit ? " " + unit : ""} over the last ${s.length}` : "";
}

// ---- the board card ----
const facts: Record<string, HTMLElement> = {};
function fact(k: string, label: string, value: string, testid?: string) {
  const dd = el("dd", testid ? { "data-testid": testid } : {}, value);
  $("facts").append(el("dt", {}, label), dd);
  facts[k] = dd;
}

async function main() {
  const info: Info = await (await fetch("/api/info")).json();
  root = info.root;
  $("devname").textContent = info.name !== info.id ? info.name : "";
  fact("id", "device", info.id, "device-id");
  fact("firmware", "firmware", `${info.board} · ${info.firmware.bytes.toLocaleString()} bytes ES5 · ${info.firmware.config}`);
  fact("topics", "topics", root + "/#");
  fact("broker", "broker", info.broker.url + (info.broker.embedded ? " (embedded)" : ""));
  fact("uptime", "uptime", "–");
  fact("heap", "emulation heap", "–", "heap");
  fact("wifi", "WiFi", "–");
  fact("sockets", "sockets", "–");
  fact("version", "version", "–", "fw-version");
  fact("boots", "boots", "–", "boots");
  if (info.ota) {
    $("ota").hidden = false;
    $("ota-command").textContent = info.ota.command;
  }
  if (info.sleep) {
    $("power").hidden = false;
    // a sleeper has no status topic (no will): it is not offline while it sleeps
    pill("status", `device: wakes every ${info.sleep / 1000} s`, "wait");
  }
  if (info.tcp) $("reach").textContent = `from a terminal: mosquitto_sub -h ${info.tcp.host} -p ${info.tcp.port} -t '${root}/#' -v`;
  for (const s of info.sensors) $("sensors").append(sensorRow(s));

  const client = createClient({
    host: info.ws.host, port: info.ws.port,
    transport: wsObjectTransport(WebSocket, { path: info.ws.path }),
    clock: timers,
    clientId: "sim-page-" + Math.random().toString(16).slice(2, 8),
    keepalive: 30,
    reconnect: { min: 500, max: 5000 },
  });
  const send = (name: string, cmd: string) => {
    if (!client.connected) note(`not connected to the broker: ${name} ${cmd} waits in the queue`, "err");
    client.publish(`${root}/cmd/${name}`, cmd, { qos: 1 });
  };
  for (const a of info.actuators) $("actuators").append(actuatorRow(a, send));

  client.on("connect", () => {
    pill("conn", "broker: connected", "on");
    client.subscribe(`${root}/#`, { qos: 1 });
  });
  client.on("offline", () => pill("conn", "broker: offline", "off"));
  client.on("error", (e: any) => { if (e.code !== "ETRANSPORT") note(`client ${e.code}: ${e.message}`, "err"); });
  client.on("message", (topic: string, payload: string, p: any) => {
    const text = decodeUtf8(payload) ?? `(${payload.length} bytes)`;
    const sub = topic.slice(root.length + 1);
    // an update's chunks (512 bytes of the image each) and their acknowledgements: the progress bar
    // shows them
    if (!(/^ota\/\d+$/.test(sub) || (sub === "ota" && /^\{"s":"(ack|dup)"/.test(text)))) log(topic, text, !!p.retain);
    if (sub === "status") pill("status", "device: " + text, text === "online" ? "on" : "off");
    else if (sub.startsWith("state/")) { const n = sub.slice(6); if (stateEls[n]) { stateEls[n].textContent = text; stateEls[n].classList.toggle("active", text !== "OFF" && text !== "0"); } }
    else if (sub === "telemetry") {
      let t: any;
      try { t = JSON.parse(text); } catch { return; }
      for (const s of info.sensors) {
        const v = t[s.name];
        if (typeof v === "number") spark(s.name, s.label, v, s.unit, s.step);
        else if (typeof v === "boolean") spark(s.name, s.label, v ? 1 : 0, "", 1, v ? "pressed" : "released");
      }
      $("tele-age").textContent = `last at ${new Date().toLocaleTimeString([], { hour12: false })} · ` +
        (info.sleep ? `once per wake, every ${info.sleep / 1000} s` : `every ${info.interval / 1000} s, and at once when a value moves`);
    }
  });
  client.connect();

  // the board's pins and diagnostics, pushed by the simulator
  const ev = new EventSource("/api/events");
  ev.onmessage = (m) => showOutputs(JSON.parse(m.data), info);
  ev.onopen = () => pill("sim", "simulator running", "on");
  ev.onerror = () => pill("sim", "simulator stopped", "off");
}

main().catch((e) => note("page error: " + e.message, "err"));

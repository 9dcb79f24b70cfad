// npm start options. Pure functions, unit-tested in test/unit/sim-args.test.ts.

export type SimBoardName = "esp32" | "esp8266";
export const BOARDS: SimBoardName[] = ["esp32", "esp8266"];

export interface BrokerUrl {
  protocol: "mqtt" | "ws";
  host: string;
  port: number;
  /** WebSocket path ("/mqtt"); "" for mqtt:// */
  path: string;
}

export interface SimArgs {
  /** device config file; null: examples/sim.json */
  config: string | null;
  /** an existing broker; null: the embedded one */
  broker: BrokerUrl | null;
  board: SimBoardName;
  /** web page port; null: 8080, or any free port when 8080 is taken */
  port: number | null;
  /** embedded broker TCP port; null: 1883, or any free port when 1883 is taken */
  mqttPort: number | null;
  /** embedded broker WebSocket port; null: 9001, or any free port when 9001 is taken */
  wsPort: number | null;
  /** no colours in the terminal log */
  color: boolean;
  help: boolean;
}

export const DEFAULT_PORTS = { web: 8080, mqtt: 1883, ws: 9001 };

export const USAGE = `usage: npm start -- [options]
  --config FILE     device config to build the simulated firmware from (default: examples/sim.json)
  --board NAME      board to build for and emulate: ${BOARDS.join(", ")} (default: esp32)
  --broker URL      use an existing broker (mqtt://host:port or ws://host:port/path) instead of the embedded one
  --port N          web page port on 127.0.0.1 (default 8080, another one if 8080 is taken; 0 = any free port)
  --mqtt-port N     embedded broker's MQTT port (default 1883, another one if taken; 0 = any free port)
  --ws-port N       embedded broker's MQTT-over-WebSocket port (default 9001, another one if taken; 0 = any)
  --no-color        plain terminal log
  --help            this text`;

export function parseArgs(argv: string[]): SimArgs {
  const a: SimArgs = { config: null, broker: null, board: "esp32", port: null, mqttPort: null, wsPort: null, color: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    let k = argv[i], inline: string | null = null;
    // --port=8081 as well as --port 8081
    const eq = k.startsWith("--") ? k.indexOf("=") : -1;
    if (eq > 0) { inline = k.slice(eq + 1); k = k.slice(0, eq); }
    const val = (): string => {
      if (inline !== null) { if (inline === "") throw new Error(`${k} needs a value`); return inline; }
      if (i + 1 >= argv.length || argv[i + 1].startsWith("--")) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    const port = (): number => {
      const v = val(), n = Number(v);
      if (!/^\d+$/.test(v) || n > 65535) throw new Error(`${k} must be a port number 0..65535, got "${v}"`);
      return n;
    };
    const flag = () => { if (inline !== null) throw new Error(`${k} takes no value`); return true; };
    if (k === "--config") a.config = val();
    else if (k === "--broker") a.broker = parseBrokerUrl(val());
    else if (k === "--board") {
      const b = val();
      if (!(BOARDS as string[]).includes(b)) throw new Error(`--board must be one of ${BOARDS.join(", ")}, got "${b}"`);
      a.board = b as SimBoardName;
    } else if (k === "--port") a.port = port();
    else if (k === "--mqtt-port") a.mqttPort = port();
    else if (k === "--ws-port") a.wsPort = port();
    else if (k === "--no-color") a.color = !flag();
    else if (k === "--help" || k === "-h") a.help = flag();
    else throw new Error(`unknown option ${k} (npm start -- --help lists them)`);
  }
  if (a.broker && (a.mqttPort !== null || a.wsPort !== null))
    throw new Error("--mqtt-port and --ws-port are for the embedded broker; they cannot be used with --broker");
  return a;
}

/** mqtt://host[:port] or ws://host[:port][/path] (a bare host:port means mqtt://) -> BrokerUrl. */
export function parseBrokerUrl(s: string): BrokerUrl {
  const bad = () => new Error(`--broker "${s}" is not a broker URL like mqtt://127.0.0.1:1883 or ws://127.0.0.1:9001/mqtt`);
  let u: URL;
  try { u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : "mqtt://" + s); } catch { throw bad(); }
  const p = u.protocol.replace(/:$/, "");
  if (p === "mqtts" || p === "wss" || p === "ssl") throw new Error(`--broker "${s}": TLS brokers are not supported by the simulator (use mqtt:// or ws://)`);
  if (p !== "mqtt" && p !== "tcp" && p !== "ws") throw new Error(`--broker "${s}": the protocol must be mqtt:// or ws://, not ${p}://`);
  if (!u.hostname) throw bad();
  if (u.username || u.password) throw new Error(`--broker "${s}": put the user name in the config (broker.username) and the password in secrets.json, not in the URL`);
  const protocol = p === "ws" ? "ws" : "mqtt";
  if (protocol === "mqtt" && u.pathname && u.pathname !== "/") throw new Error(`--broker "${s}": an mqtt:// URL has no path (did you mean ws://?)`);
  const port = u.port ? Number(u.port) : protocol === "ws" ? 80 : 1883;
  return {
    protocol,
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port,
    path: protocol === "ws" ? (u.pathname && u.pathname !== "/" ? u.pathname : "/mqtt") : "",
  };
}

/** The URL shown to people (mqtt://host:port, ws://host:port/path). */
export function brokerUrl(b: BrokerUrl): string {
  const h = b.host.includes(":") ? `[${b.host}]` : b.host;
  return `${b.protocol}://${h}:${b.port}${b.path}`;
}

// npm start's options and broker URLs (sim/args.ts).
import { describe, expect, it } from "vitest";
import { brokerUrl, parseArgs, parseBrokerUrl, USAGE } from "../../sim/args";

describe("parseArgs", () => {
  it("defaults: the example config, the embedded broker, esp32, preferred ports", () => {
    expect(parseArgs([])).toEqual({ config: null, broker: null, board: "esp32", port: null, mqttPort: null, wsPort: null, color: true, help: false });
  });

  it("every option, as --opt value and --opt=value", () => {
    expect(parseArgs(["--config", "my.json", "--board", "esp8266", "--port", "0", "--mqtt-port=1884", "--ws-port", "9002", "--no-color"]))
      .toEqual({ config: "my.json", broker: null, board: "esp8266", port: 0, mqttPort: 1884, wsPort: 9002, color: false, help: false });
    expect(parseArgs(["--broker=mqtt://10.0.0.2:1883"]).broker).toEqual({ protocol: "mqtt", host: "10.0.0.2", port: 1883, path: "" });
    expect(parseArgs(["-h"]).help).toBe(true);
    expect(parseArgs(["--help"]).help).toBe(true);
  });

  it("refuses what it does not understand, saying what is wrong", () => {
    expect(() => parseArgs(["--prot", "80"])).toThrow("unknown option --prot (npm start -- --help lists them)");
    expect(() => parseArgs(["extra"])).toThrow("unknown option extra");
    expect(() => parseArgs(["--port"])).toThrow("--port needs a value");
    expect(() => parseArgs(["--port", "--config", "x"])).toThrow("--port needs a value");
    expect(() => parseArgs(["--config="])).toThrow("--config needs a value");
    expect(() => parseArgs(["--port", "80a"])).toThrow('--port must be a port number 0..65535, got "80a"');
    expect(() => parseArgs(["--port", "-1"])).toThrow('--port must be a port number 0..65535, got "-1"');
    expect(() => parseArgs(["--mqtt-port", "65536"])).toThrow('--mqtt-port must be a port number 0..65535, got "65536"');
    expect(() => parseArgs(["--ws-port", "1.5"])).toThrow("--ws-port must be a port number");
    expect(() => parseArgs(["--board", "uno"])).toThrow('--board must be one of esp32, esp8266, got "uno"');
    expect(() => parseArgs(["--no-color=1"])).toThrow("--no-color takes no value");
  });

  it("--mqtt-port / --ws-port are the embedded broker's: not with --broker", () => {
    expect(() => parseArgs(["--broker", "mqtt://h", "--mqtt-port", "1"])).toThrow("cannot be used with --broker");
    expect(() => parseArgs(["--ws-port", "1", "--broker", "mqtt://h"])).toThrow("cannot be used with --broker");
  });

  it("the usage names every option it parses", () => {
    for (const o of ["--config", "--board", "--broker", "--port", "--mqtt-port", "--ws-port", "--no-color", "--help"]) expect(USAGE).toContain(o);
  });
});

describe("parseBrokerUrl", () => {
  it("mqtt:// (and tcp://, and a bare host) with the default port 1883", () => {
    expect(parseBrokerUrl("mqtt://broker.lan")).toEqual({ protocol: "mqtt", host: "broker.lan", port: 1883, path: "" });
    expect(parseBrokerUrl("tcp://127.0.0.1:1884")).toEqual({ protocol: "mqtt", host: "127.0.0.1", port: 1884, path: "" });
    expect(parseBrokerUrl("192.168.1.10:1885")).toEqual({ protocol: "mqtt", host: "192.168.1.10", port: 1885, path: "" });
    expect(parseBrokerUrl("localhost")).toEqual({ protocol: "mqtt", host: "localhost", port: 1883, path: "" });
    expect(parseBrokerUrl("mqtt://broker.lan/")).toEqual({ protocol: "mqtt", host: "broker.lan", port: 1883, path: "" });
  });

  it("ws:// with its path (default /mqtt) and port (default 80)", () => {
    expect(parseBrokerUrl("ws://127.0.0.1:9001")).toEqual({ protocol: "ws", host: "127.0.0.1", port: 9001, path: "/mqtt" });
    expect(parseBrokerUrl("ws://h/ws")).toEqual({ protocol: "ws", host: "h", port: 80, path: "/ws" });
  });

  it("IPv6 hosts lose their brackets, and get them back in the URL shown", () => {
    const b = parseBrokerUrl("mqtt://[::1]:1883");
    expect(b).toEqual({ protocol: "mqtt", host: "::1", port: 1883, path: "" });
    expect(brokerUrl(b)).toBe("mqtt://[::1]:1883");
    expect(brokerUrl(parseBrokerUrl("ws://h:8080/mqtt"))).toBe("ws://h:8080/mqtt");
  });

  it("clear errors: TLS, other protocols, credentials, paths on mqtt://, garbage", () => {
    expect(() => parseBrokerUrl("mqtts://h:8883")).toThrow("TLS brokers are not supported by the simulator");
    expect(() => parseBrokerUrl("wss://h")).toThrow("TLS brokers are not supported");
    expect(() => parseBrokerUrl("http://h")).toThrow("the protocol must be mqtt:// or ws://, not http://");
    expect(() => parseBrokerUrl("mqtt://user:pw@h")).toThrow("put the user name in the config");
    expect(() => parseBrokerUrl("mqtt://h/mqtt")).toThrow("an mqtt:// URL has no path (did you mean ws://?)");
    expect(() => parseBrokerUrl("mqtt://h:99999")).toThrow("is not a broker URL");
    expect(() => parseBrokerUrl("mqtt://")).toThrow("is not a broker URL");
    expect(() => parseBrokerUrl("::::")).toThrow("is not a broker URL");
  });
});

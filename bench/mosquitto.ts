// A Mosquitto broker for the end-to-end benchmark, used only when test/helpers/mosquitto.ts is not in
// the checkout (bench/run.mjs picks one at bundle time). Same shape: startMosquitto() -> {port, pid, stop}.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const candidates = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/bin/mosquitto"];
export const mosquittoPath = candidates.find((p) => existsSync(p)) || null;
export const hasMosquitto = mosquittoPath !== null;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => { const p = (s.address() as any).port; s.close(() => resolve(p)); });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: "127.0.0.1", port });
    c.on("connect", () => { c.destroy(); resolve(true); });
    c.on("error", () => resolve(false));
  });
}

export async function startMosquitto(o: { extraConf?: string } = {}) {
  if (!mosquittoPath) throw new Error("mosquitto is not installed");
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-bench-"));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "log_dest stderr", "log_type error", o.extraConf || ""].join("\n") + "\n");
  chmodSync(conf, 0o644);
  let out = "";
  const c = spawn(mosquittoPath, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  c.stdout!.on("data", (d) => { out += d; });
  c.stderr!.on("data", (d) => { out += d; });
  const kill = () => { try { process.kill(c.pid!, "SIGKILL"); } catch {} };
  process.on("exit", kill);
  const deadline = Date.now() + 10000;
  while (!(await accepts(port))) {
    if (c.exitCode !== null || Date.now() > deadline) { kill(); throw new Error("mosquitto did not start:\n" + out); }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port, pid: c.pid!,
    async stop() {
      const gone = new Promise((r) => c.once("exit", r));
      try { process.kill(c.pid!, "SIGTERM"); } catch {}
      const t = setTimeout(kill, 3000);
      if (c.exitCode === null) await gone;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

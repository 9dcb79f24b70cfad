// An aedes 1.x broker (ESM-only, `await Aedes.createBroker()`) on a free 127.0.0.1 TCP port, in this
// process. MQTT 3.1/3.1.1 only. stop() closes its clients, the broker and the listener.
import { createServer, type Server, type Socket } from "node:net";
import { Aedes, type AedesOptions } from "aedes";

export interface AedesBroker {
  port: number;
  broker: Aedes;
  stop(): Promise<void>;
}

export async function startAedes(opts: AedesOptions = {}): Promise<AedesBroker> {
  const broker = await Aedes.createBroker(opts);
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    broker.handle(s);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as any).port));
  });
  return {
    port,
    broker,
    async stop() {
      await new Promise<void>((r) => broker.close(() => r()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// Clean shutdown: what was started is stopped in reverse order, each step given a time limit, a failing
// step never keeps the others from running. Ctrl-C (SIGINT) or SIGTERM starts it; a second Ctrl-C
// exits at once. Unit-tested in test/unit/sim-shutdown.test.ts.

export interface Step { name: string; stop: () => unknown }

export class Shutdown {
  private steps: Step[] = [];
  private done: Promise<string[]> | null = null;
  constructor(private stepTimeoutMs = 3000) {}

  /** register something to stop; later registrations stop first */
  add(name: string, stop: () => unknown) {
    if (this.done) { void Promise.resolve().then(stop).catch(() => {}); return; } // started during shutdown: stop it at once
    this.steps.push({ name, stop });
  }

  get started() { return this.done !== null; }

  /** stop everything (once; later calls get the same result): the failures, as "name: why" */
  run(): Promise<string[]> {
    if (!this.done) this.done = (async () => {
      const failed: string[] = [];
      for (const s of this.steps.slice().reverse()) {
        let t: ReturnType<typeof setTimeout> | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(s.stop),
            new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`did not stop within ${this.stepTimeoutMs} ms`)), this.stepTimeoutMs); }),
          ]);
        } catch (e) {
          failed.push(`${s.name}: ${(e as Error)?.message ?? e}`);
        } finally { clearTimeout(t); }
      }
      this.steps = [];
      return failed;
    })();
    return this.done;
  }
}

export interface SignalTarget {
  on(ev: string, fn: () => void): unknown;
  off(ev: string, fn: () => void): unknown;
}

/**
 * SIGINT/SIGTERM -> shutdown.run(), then exit(0), or exit(1) when a step failed (each failure logged).
 * A second signal while stopping exits at once with 130. Returns a function that removes the handlers.
 */
export function exitOnSignals(sd: Shutdown, o: { proc?: SignalTarget; exit?: (code: number) => void; log?: (s: string) => void } = {}) {
  const proc = o.proc || process, exit = o.exit || ((c: number) => process.exit(c)), log = o.log || ((s: string) => console.log(s));
  const on = (sig: string) => {
    if (sd.started) { log(`${sig} again: exiting now`); exit(130); return; }
    log(`${sig === "SIGINT" ? "Ctrl-C" : sig}: stopping…`);
    void sd.run().then((failed) => {
      for (const f of failed) log("could not stop " + f);
      exit(failed.length ? 1 : 0);
    });
  };
  const int = () => on("SIGINT"), term = () => on("SIGTERM");
  proc.on("SIGINT", int);
  proc.on("SIGTERM", term);
  return () => { proc.off("SIGINT", int); proc.off("SIGTERM", term); };
}

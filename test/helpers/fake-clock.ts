// A deterministic clock for the client's port: time moves only when a test calls advance().
import type { Clock } from "../../src/mqtt/port";

interface Timer { id: number; at: number; fn: () => void }

export interface FakeClock extends Clock {
  /** move time forward by `ms`, running every timer that falls due, in order (ties: creation order) */
  advance(ms: number): void;
  /** timers armed and not yet run or cleared */
  pending(): number;
  /** ms until the next timer would run, or -1 when none is armed */
  next(): number;
}

export function fakeClock(start = 0): FakeClock {
  let now = start, seq = 0, timers: Timer[] = [];
  const due = (until: number) => {
    let best: Timer | undefined;
    for (const t of timers) if (t.at <= until && (!best || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t;
    return best;
  };
  return {
    now: () => now,
    setTimer(fn, ms, arg) {
      const t = { id: ++seq, at: now + Math.max(0, ms), fn: () => fn(arg) };
      timers.push(t);
      return t.id;
    },
    clearTimer(id) { timers = timers.filter((t) => t.id !== id); },
    advance(ms) {
      const until = now + ms;
      for (let t = due(until); t; t = due(until)) {
        timers = timers.filter((x) => x !== t);
        now = t.at;
        t.fn();
      }
      now = until;
    },
    pending: () => timers.length,
    next: () => (timers.length ? Math.min(...timers.map((t) => t.at)) - now : -1),
  };
}

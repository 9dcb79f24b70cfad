// Topic names and filters (MQTT 3.1.1 section 4.7): validation and matching.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fcParams } from "../helpers/seed";
import { matches, validTopic } from "../../src/mqtt/topic";

describe("validTopic", () => {
  const names = ["a", "/", "//", "a/b", "/a", "a/", "a//b", "$SYS/x", "sport/tennis/player1", " ", "a b", "温度/°C", "\ud83c\udf21", "\ufeff"];
  for (const t of names) it(`accepts the name and filter ${JSON.stringify(t)}`, () => {
    expect(validTopic(t, false)).toBeNull();
    expect(validTopic(t, true)).toBeNull();
  });

  const filters = ["#", "+", "+/+", "/+", "+/", "sport/#", "sport/+/player1", "+/tennis/#", "/#", "+/#", "$SYS/#", "a//+", "//#", "+/+/+"];
  for (const f of filters) it(`accepts the filter ${JSON.stringify(f)}, not as a name [MQTT-4.7.1-1]`, () => {
    expect(validTopic(f, true)).toBeNull();
    expect(validTopic(f, false)).toBe("3.3.2-2");
  });

  const misplacedHash = ["sport/tennis#", "sport/tennis/#/ranking", "#/", "##", "a#", "#a", "a/#/b", "+#"];
  const misplacedPlus = ["sport+", "sport/+player1", "++", "+a", "a+/b", "a/b+", "+#/"];
  for (const f of misplacedHash.filter((x) => x != "+#")) it(`rejects the filter ${f} [MQTT-4.7.1-2]`, () => {
    expect(validTopic(f, true)).toBe("4.7.1-2");
  });
  for (const f of misplacedPlus.concat("+#")) it(`rejects the filter ${f} [MQTT-4.7.1-3]`, () => {
    expect(validTopic(f, true)).toBe("4.7.1-3");
  });

  it("rejects empty topics and filters [MQTT-4.7.3-1]", () => {
    expect(validTopic("", false)).toBe("4.7.3-1");
    expect(validTopic("", true)).toBe("4.7.3-1");
  });

  it("rejects U+0000 [MQTT-4.7.3-2]", () => {
    expect(validTopic("a\0b", false)).toBe("4.7.3-2");
    expect(validTopic("\0", true)).toBe("4.7.3-2");
  });

  it("limits the UTF-8 encoding, not the JS length, to 65,535 bytes [MQTT-4.7.3-3]", () => {
    expect(validTopic("a".repeat(65535), false)).toBeNull();
    expect(validTopic("a".repeat(65536), false)).toBe("4.7.3-3");
    expect(validTopic("é".repeat(32767) + "a", false)).toBeNull(); // 65,535 bytes in 32,768 chars
    expect(validTopic("é".repeat(32768), false)).toBe("4.7.3-3"); // 65,536 bytes
    expect(validTopic("€".repeat(21845), false)).toBeNull(); // 3 bytes each: 65,535
    expect(validTopic("€".repeat(21846), false)).toBe("4.7.3-3");
    expect(validTopic("\ud83c\udf21".repeat(16383) + "abc", false)).toBeNull(); // 4 bytes per pair: 65,535
    expect(validTopic("\ud83c\udf21".repeat(16384), false)).toBe("4.7.3-3");
    // a lone surrogate is sent as U+FFFD, 3 bytes
    expect(validTopic("\ud800".repeat(21845), false)).toBeNull();
    expect(validTopic("\ud800".repeat(21846), false)).toBe("4.7.3-3");
    expect(validTopic("\udc00".repeat(21846), false)).toBe("4.7.3-3");
  });
});

describe("matches", () => {
  // [filter, topic, expected] — the examples of section 4.7 and their edges
  const table: [string, string, boolean][] = [
    ["sport/tennis/player1/#", "sport/tennis/player1", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
    ["sport/tennis/player1/#", "sport/tennis/player2", false],
    ["sport/#", "sport", true], // # includes the parent level
    ["sport/#", "sports", false],
    ["sport/#", "sport/", true],
    ["#", "sport", true],
    ["#", "/", true],
    ["#", "a/b/c", true],
    ["sport/tennis/+", "sport/tennis/player1", true],
    ["sport/tennis/+", "sport/tennis/player2", true],
    ["sport/tennis/+", "sport/tennis/player1/ranking", false],
    ["sport/+", "sport", false],
    ["sport/+", "sport/", true], // + matches an empty level
    ["+/+", "/finance", true],
    ["/+", "/finance", true],
    ["+", "/finance", false],
    ["+", "finance", true],
    ["+/#", "a", true],
    ["a/+/b", "a//b", true],
    ["a//b", "a/b", false],
    ["a/b", "a//b", false],
    ["+/+/+", "a/b", false],
    ["+/+", "a/b/c", false],
    ["a/+/#", "a/x", true],
    ["a/+/#", "a", false],
    ["a", "ab", false],
    ["ab", "a", false],
    ["a/b", "a", false],
    ["a", "a/b", false],
    ["a/", "a", false],
    ["a", "a/", false],
    ["a/", "a/", true],
    ["+/", "x/", true],
    ["+/", "x/y", false],
    ["A", "a", false], // case sensitive, no normalisation [MQTT-4.7.3-4]
    ["é", "e\u0301", false],
    // $ topics: not matched by a first-level wildcard [MQTT-4.7.2-1]
    ["#", "$SYS/monitor/Clients", false],
    ["+/monitor/Clients", "$SYS/monitor/Clients", false],
    ["+", "$SYS", false],
    ["#", "$", false],
    ["$SYS/#", "$SYS/monitor/Clients", true],
    ["$SYS/monitor/+", "$SYS/monitor/Clients", true],
    ["$SYS/#", "$SYS", true],
    ["a/#", "a/$x", true], // $ only matters at the start of the topic
    ["a/+", "a/$x", true],
    ["#", "x$", true],
  ];
  for (const [f, t, want] of table) it(`${JSON.stringify(f)} ${want ? "matches" : "does not match"} ${JSON.stringify(t)}`, () => {
    expect(matches(f, t)).toBe(want);
  });

  // An independent reference: split both into levels (4.7.1) and walk them.
  function reference(f: string, t: string): boolean {
    if (t[0] == "$" && (f[0] == "+" || f[0] == "#")) return false;
    const fl = f.split("/"), tl = t.split("/");
    for (let i = 0; i < fl.length; i++) {
      if (fl[i] == "#") return true;
      if (i >= tl.length) return false;
      if (fl[i] != "+" && fl[i] != tl[i]) return false;
    }
    return fl.length == tl.length;
  }
  // sanity of the reference itself on the spec examples
  it("the reference agrees with the table", () => {
    for (const [f, t, want] of table) if (t) expect(reference(f, t), f + " " + t).toBe(want);
  });

  const level = fc.string({ unit: fc.constantFrom("a", "b", "$", "é"), maxLength: 2 });
  const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join("/")).filter((t) => t.length > 0);
  const filterArb = fc.tuple(fc.array(fc.oneof(level, fc.constant("+")), { minLength: 0, maxLength: 4 }), fc.boolean())
    .map(([l, hash]) => (hash ? l.concat("#") : l).join("/")).filter((f) => f.length > 0);

  it("agrees with the level-by-level reference on random valid filters and names", () => {
    fc.assert(fc.property(filterArb, topicArb, (f, t) => {
      expect(validTopic(f, true)).toBeNull();
      expect(validTopic(t, false)).toBeNull();
      expect(matches(f, t)).toBe(reference(f, t));
    }), fcParams({ numRuns: 20000 }));
  });

  it("a filter built from a name by replacing levels with + (and a # tail) matches it", () => {
    fc.assert(fc.property(topicArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.nat(4), (t, plus, cut) => {
      const l = t.split("/").map((x, i) => (plus[i] && !(i == 0 && t[0] == "$") ? "+" : x));
      const f = l.join("/");
      expect(matches(f, t)).toBe(true);
      if (!(t[0] == "$" && cut == 0)) expect(matches(l.slice(0, Math.min(cut, l.length)).concat("#").join("/"), t)).toBe(true);
    }), fcParams({ numRuns: 5000 }));
  });
});

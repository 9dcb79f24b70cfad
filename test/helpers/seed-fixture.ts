// Run only by test/unit/seed.test.ts (in a child vitest): two randomized tests that always fail, so it
// can check what a failure prints and that the printed seed replays the same values.
import { expect, it } from "vitest";
import fc from "fast-check";
import { fcParams, random } from "./seed";

it("a property that fails", () => {
  fc.assert(fc.property(fc.nat(), (n) => n % 5 != 3), fcParams());
});

it("a seeded PRNG test that fails", () => {
  const drawn = [random(), random(), random()];
  console.log("drawn " + JSON.stringify(drawn));
  expect(drawn).toEqual([]);
});

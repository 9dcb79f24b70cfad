import { defineConfig } from "vitest/config";

export default defineConfig({
  define: { __SERVER__: "true" },
  resolve: { alias: { board: new URL("./boards/host.ts", import.meta.url).pathname } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30000,
    hookTimeout: 30000,
    pool: "forks",
    // integration tests start real brokers on free ports; two cores on this machine
    maxWorkers: 2,
    reporters: ["default"],
  },
});

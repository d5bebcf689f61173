// The KUnit suites `shadowfence kunit <suite>` can run, by name (loaded on demand).
import type { KunitSuite } from "./runner.js";

export const KUNIT_SUITES: Record<string, () => Promise<KunitSuite>> = {
  kasan: async () => (await import("./kasan_test.js")).kasanSuite,
  kfence: async () => (await import("./kfence_test.js")).kfenceSuite,
  vmalloc: async () => (await import("./kasan_test.js")).kasanVmallocSuite,
};

// The KUnit suites `shadowfence kunit <suite>` can run, by name.
import type { KunitSuite } from "./runner.js";

export const KUNIT_SUITES: Record<string, () => Promise<KunitSuite>> = {
  kfence: async () => (await import("./kfence_test.js")).kfenceSuite,
};

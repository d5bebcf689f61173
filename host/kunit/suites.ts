// The KUnit suites `shadowfence kunit <suite>` can run.
import type { KunitSuite } from "./runner.js";
import { kasanSuite } from "./kasan_test.js";

export const SUITES: Record<string, KunitSuite> = {
  kasan: kasanSuite,
};

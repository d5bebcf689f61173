// Hand-written guest modules for the rewriter's tests: wasm text assembled by
// binaryen with every feature the rewriter handles (SIMD, bulk memory, atomics)
// and, unless names is false, a name section.
import binaryen from "binaryen";

export function wat(text: string, names = true): Uint8Array {
  binaryen.setDebugInfo(names);
  const m = binaryen.parseText(text);
  m.setFeatures(binaryen.Features.All);
  const b = m.emitBinary();
  m.dispose();
  binaryen.setDebugInfo(false);
  return b;
}

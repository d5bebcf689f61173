// Benchmark plumbing: timing (warm up, best of N) and plain-text tables.
export interface Table {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
  notes?: string[];
}

export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Time fn (which does `ops` operations) after a warm-up; best of `reps` runs, ns per op. */
export function nsPerOp(ops: number, fn: () => unknown, reps = 5): number {
  fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = nowNs();
    fn();
    best = Math.min(best, (nowNs() - t) / ops);
  }
  return best;
}

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return "-";
  if (Math.abs(n) >= 1000) return n.toFixed(0);
  return n.toFixed(digits);
}
export function ratio(n: number): string {
  return `${n.toFixed(2)}x`;
}

export function printTable(t: Table): void {
  const cells = [t.columns, ...t.rows.map((r) => r.map(String))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(`\n${t.title}`);
  console.log(line(t.columns));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells.slice(1)) console.log(line(r));
  for (const n of t.notes ?? []) console.log(`  ${n}`);
}

// A reader of kernel logs built from syzkaller's documented parsing rules
// (pkg/report: linux.go's report formats, report.go's stack-frame extraction
// and its corruption checks), written here for our tests: it splits a log
// into reports, gives each the title syzkaller would give it and says whether
// syzkaller would mark it corrupted, and why. Only the report kinds the engine
// prints are described; a report of another kind is an error, not a pass.

// Placeholders as syzkaller's patterns use them.
const FUNC = String.raw`([a-zA-Z0-9_]+)(?:\.|\+)`;
const PC = String.raw`\[\<?(?:0x)?[0-9a-f]+\>?\]`;
const SRC = String.raw`([a-zA-Z0-9-_/.]+\.[a-z]+:[0-9]+)`;
const re = (s: string) => new RegExp(s.replace(/\{\{FUNC\}\}/g, FUNC).replace(/\{\{PC\}\}/g, PC).replace(/\{\{SRC\}\}/g, SRC));

/** A stack trace starts at these lines (and the frames of one stack end at the next). */
const STACK_STARTS = [/Call (?:T|t)race/, /Allocated:/, /Allocated by task [0-9]+:/, /Freed:/, /Freed by task [0-9]+:/,
  /[^k] backtrace(?: \(crc [0-9a-fA-F]*\))?:/, /Backtrace:/, /Uninit was stored to memory at/];
/** A frame line: optional [<pc>] then `func+` or `func.`. */
const FRAME_RES = [re(String.raw`^ *(?:{{PC}} ){0,2}{{FUNC}}`)];
/** Functions that never name a bug (sanitizer runtime, reporting, allocators, string and lock helpers, ...). */
const SKIP = ["__sanitizer", "__asan", "kasan", "hwasan", "__msan", "kmsan", "check_memory_region", "check_heap_object",
  "check_object", "read_word_at_a_time", "print_address_description", "panic", "invalid_op", "report_bug", "fixup_bug",
  "print_report", "do_error", String.raw`_trap$|do_trap`, "show_stack", "dump_stack", "walk_stack", "dump_backtrace",
  "warn_slowpath", "warn_alloc", "__warn", "alloc_page", "k?v?(?:m|z|c)alloc", "krealloc", "kmem_cache", "allocate_slab",
  "slab_", "debug_object", "lockdep", "spin_lock", "spin_unlock", "^mutex_", "(set|clear|change|test)_bit", "^refcount_",
  "memcpy", "memcmp", "memset", "memchr", "memmove", "memdup", "strcmp", "strncmp", "strcpy", "strlcpy", "strncpy",
  "strscpy", "strlen", "strstr", "strnstr", "strnlen", "strchr", "strdup", "strndup", "copy_to_user", "copy_from_user",
  "list_add", "list_del", "string", "pointer", "printk", "queue_work", "^kv?free$", "print_hex_dump", "insert_work",
  "do_(kernel|translation)_fault", "do_mem_abort", "el1_abort", "el1h_64_sync(?:_handler)?", "print_tainted"];
const STRIP_PREFIXES = ["SYSC_", "SyS_", "sys_", "__x64_", "__ia32_", "__arm64_", "____sys_", "___sys_", "__sys_", "__se_",
  "__se_sys_", "__do_sys_", "compat_SYSC_", "compat_SyS_", "ksys_"];
const RIP_FRAME = re(String.raw`(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+)`);
const CALL_TRACE = /(?:Call (?:T|t)race:)|(?:Backtrace:)/;
const PARSE_STACK = null;   // a part that reads frames until the next stack starts
type Part = RegExp | null;

interface StackFmt { parts: Part[]; parts2?: Part[]; skip?: string[] }
interface Format {
  title: RegExp;
  report?: RegExp;
  fmt: string;
  stack?: StackFmt;
  noStackTrace?: boolean;
  corrupted?: boolean;
}
interface Oops { header: string; formats: Format[]; ignores: RegExp[] }

const warningStack = (...skip: string[]): StackFmt => ({ parts: [RIP_FRAME, PARSE_STACK], parts2: [CALL_TRACE, PARSE_STACK], skip });
const kfenceStack: StackFmt = { parts: [re("BUG: KFENCE: (?:[a-z\\- ]+) in {{FUNC}}"), PARSE_STACK] };

const OOPSES: Oops[] = [
  {
    header: "BUG:",
    formats: [
      { title: /BUG: KASAN:/, report: re(String.raw`BUG: KASAN: ([a-z\-]+) in {{FUNC}}(?:.*\n)+?.*(Read|Write) (?:of size|at addr) (?:[0-9a-f]+)`),
        fmt: "KASAN: %[1]v %[3]v in %[4]v",
        stack: { parts: [re(String.raw`BUG: KASAN: (?:[a-z\-]+) in {{FUNC}}`), CALL_TRACE, PARSE_STACK],
          skip: ["kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_"] } },
      { title: /BUG: KASAN:/, report: re("BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}"),
        fmt: "KASAN: invalid-free in %[2]v",
        stack: { parts: [re("BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}"), CALL_TRACE, PARSE_STACK],
          skip: ["slab_", "kfree", "vunmap", "vfree"] } },
      { title: /BUG: KASAN: (.*)/, fmt: "KASAN: %[1]v", corrupted: true },
      { title: re("BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {{FUNC}}"), fmt: "KFENCE: %[1]v %[2]v in %[4]v", stack: kfenceStack },
      { title: re("BUG: KFENCE: invalid free in {{FUNC}}"), fmt: "KFENCE: invalid free in %[2]v", noStackTrace: true, stack: kfenceStack },
      { title: re("BUG: KFENCE: invalid (read|write) in {{FUNC}}"), fmt: "KFENCE: invalid %[1]v in %[3]v", stack: kfenceStack },
      { title: re("BUG: KFENCE: memory corruption in {{FUNC}}"), fmt: "KFENCE: memory corruption in %[2]v", noStackTrace: true, stack: kfenceStack },
      { title: /BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)/,
        fmt: "BUG: unable to handle kernel paging request in %[1]v", stack: { parts: [RIP_FRAME, CALL_TRACE, PARSE_STACK] } },
      { title: /BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)/,
        fmt: "BUG: unable to handle kernel NULL pointer dereference in %[1]v", stack: { parts: [RIP_FRAME, CALL_TRACE, PARSE_STACK] } },
      { title: /BUG: (?:unable to handle kernel|Unable to handle kernel)/, fmt: "BUG: unable to handle kernel", corrupted: true },
      { title: /BUG: Bad page (state|cache)/, fmt: "BUG: Bad page %[1]v in %[2]v",
        stack: { parts: [/page last allocated/, PARSE_STACK], skip: ["(free|put|get|update|release)_page", "free_unref", "^_*folio",
          "truncate_inode_pages", "page_frag_free", "alloc", "vmap", "page_owner"] } },
      { title: /BUG:[\s]*(?:\n|$)/, fmt: "BUG: corrupted", corrupted: true },
    ],
    ignores: [/ODEBUG:/, /Boot_DEBUG:/, /DEBUG:/, /BUG: no syscalls can create resource/],
  },
  {
    header: "WARNING:",
    formats: [
      { title: re(String.raw`WARNING: .*mm/.*\.c.* k?.?malloc`), fmt: "WARNING: kmalloc bug in %[1]v", stack: warningStack("kmalloc", "krealloc", "slab", "kmem") },
      { title: re(String.raw`WARNING: .*mm/vmalloc.c.*__vmalloc_node`), fmt: "WARNING: zero-size vmalloc in %[1]v", stack: warningStack() },
      { title: re("WARNING: .* at {{SRC}} {{FUNC}}"), fmt: "WARNING in %[3]v", stack: warningStack() },
      { title: re("WARNING: {{SRC}} at {{FUNC}}"), fmt: "WARNING in %[3]v", stack: warningStack() },
      { title: /WARNING:[\s]*(?:\n|$)/, fmt: "WARNING: corrupted", corrupted: true },
    ],
    ignores: [],
  },
  {
    header: "Unable to handle kernel",
    formats: [
      { title: /Unable to handle kernel (paging request|NULL pointer dereference|access to user memory)/,
        fmt: "BUG: unable to handle kernel %[1]v in %[2]v", stack: { parts: [RIP_FRAME, CALL_TRACE, PARSE_STACK] } },
    ],
    ignores: [],
  },
  {
    header: "general protection fault",
    formats: [{ title: /general protection fault.*:/, fmt: "general protection fault in %[1]v", stack: { parts: [RIP_FRAME, CALL_TRACE, PARSE_STACK] } }],
    ignores: [/general protection fault .* error:\d+ in /],
  },
  {
    header: "Kernel panic",
    formats: [
      { title: /Kernel panic - not syncing: Fatal exception/, fmt: "kernel panic: Fatal exception", corrupted: true },
      { title: /Kernel panic - not syncing: panic_on_warn set/, fmt: "kernel panic: panic_on_warn set", corrupted: true },
      { title: /Kernel panic - not syncing: (.*)/, fmt: "kernel panic: %[1]v" },
    ],
    ignores: [],
  },
  {
    header: "kernel BUG",
    formats: [{ title: /kernel BUG at (.*)/, fmt: "kernel BUG at %[1]v", stack: { parts: [CALL_TRACE, PARSE_STACK] } }],
    ignores: [],
  },
  {
    header: "BUG kmalloc-",
    formats: [{ title: /BUG kmalloc-.*: Object already free/, fmt: "BUG: Object already free" }],
    ignores: [],
  },
];
/** Lines that sit inside a report without starting another (linux.go's report start ignores). */
const START_IGNORES = [/invalid opcode: 0000/, /Kernel panic - not syncing/, /unregister_netdevice: waiting for/, /PANIC: double fault/];

export interface ParsedReport {
  /** syzkaller's title, e.g. "KASAN: slab-out-of-bounds Write in kmalloc_oob_right". */
  title: string;
  /** Why syzkaller would call it corrupted, or undefined. */
  corrupted?: string;
  /** The report's text as cut from the log (console prefixes stripped). */
  text: string;
  /** The header line it started at. */
  header: string;
  /** No format of ours described it (the title is then its first line). */
  unknownFormat?: boolean;
}

const CONSOLE_PREFIX = /^(?:<[0-9]+>)?\[ *[0-9]+\.[0-9]+\](?:\[ *(?:C|T)[0-9]+\])? /;

function matchOops(line: string): Oops | undefined {
  for (const o of OOPSES) {
    const at = line.indexOf(o.header);
    if (at < 0) continue;
    if (o.ignores.some((r) => r.test(line))) continue;
    return o;
  }
  return undefined;
}

/** Split a log into reports: each runs from an oops line to the line before the next one. */
export function parseLog(log: string): ParsedReport[] {
  const lines = log.split("\n").map((l) => l.replace(/\r$/, "").replace(CONSOLE_PREFIX, ""));
  const starts: Array<{ i: number; oops: Oops }> = [];
  for (let i = 0; i < lines.length; i++) {
    const oops = matchOops(lines[i]);
    if (!oops) continue;
    if (starts.length && START_IGNORES.some((r) => r.test(lines[i]))) continue;
    starts.push({ i, oops });
  }
  return starts.map(({ i, oops }, k) => {
    const end = k + 1 < starts.length ? starts[k + 1].i : lines.length;
    const text = lines.slice(i, end).join("\n") + "\n";
    return describe(text, oops);
  });
}

function describe(text: string, oops: Oops): ParsedReport {
  const header = text.slice(0, text.indexOf("\n"));
  let best: { f: Format; at: number } | undefined;
  for (const f of oops.formats) {
    const m = f.title.exec(text);
    if (!m) continue;
    if (f.report && !f.report.exec(text)) continue;
    if (!best || m.index < best.at) best = { f, at: m.index };
  }
  if (!best) return { title: header.slice(header.indexOf(oops.header)), text, header, unknownFormat: true };
  const f = best.f;
  const m = (f.report ?? f.title).exec(text)!;
  const args: string[] = m.slice(1).map((g) => g ?? "");
  let corrupted: string | undefined;
  if (f.stack) {
    const { frames, ok } = extractStackFrame(f.stack, text.slice(m.index));
    if (!ok) corrupted = "no frames in a stack trace";
    args.push(...frames);
  }
  const title = f.fmt.replace(/%\[(\d+)\]v/g, (_s, n: string) => args[Number(n) - 1] ?? "%!v(MISSING)");
  if (!corrupted && f.corrupted) corrupted = "report format is marked as corrupted";
  if (!corrupted) corrupted = isCorrupted(title, text, f);
  return { title, corrupted, text, header };
}

function extractStackFrame(stack: StackFmt, output: string): { frames: string[]; ok: boolean } {
  const skip = [...SKIP, ...(stack.skip ?? [])];
  const skipRe = new RegExp(skip.join("|"));
  const first = extractStackFrameImpl(output, skipRe, stack.parts);
  if (first.ok || !stack.parts2) return first;
  return extractStackFrameImpl(output, skipRe, stack.parts2);
}

function extractStackFrameImpl(output: string, skipRe: RegExp, parts: Part[]): { frames: string[]; ok: boolean } {
  const lines = output.split("\n");
  let pos = 0;
  let frames: string[] = [];
  const results: string[] = [];
  let ok = true;
  let numStackTraces = 0;
  for (let partIdx = 0; ; partIdx++) {
    if (partIdx === parts.length || (parts[partIdx] === PARSE_STACK && numStackTraces > 0)) {
      let key = frames[0] ?? "";
      if (!key) { key = "corrupted"; ok = false; }
      results.push(key);
      frames = [];
    }
    if (partIdx === parts.length) break;
    const part = parts[partIdx];
    if (part === PARSE_STACK) {
      numStackTraces++;
      let advanced = false;
      while (pos < lines.length) {
        const ln = lines[pos++];
        if (STACK_STARTS.some((r) => r.test(ln))) break;
        if (partIdx !== parts.length - 1) {
          const next = parts[partIdx + 1]!.exec(ln);
          if (next) { frames = appendFrame(frames, next, skipRe); partIdx++; advanced = true; break; }
        }
        let mm: RegExpExecArray | null = null;
        for (const r of FRAME_RES) if ((mm = r.exec(ln))) break;
        frames = appendFrame(frames, mm, skipRe);
      }
      void advanced;
    } else {
      while (pos < lines.length) {
        const mm = part.exec(lines[pos++]);
        if (!mm) continue;
        frames = appendFrame(frames, mm, skipRe);
        break;
      }
    }
  }
  return { frames: results, ok };
}

function appendFrame(frames: string[], m: RegExpExecArray | null, skipRe: RegExp): string[] {
  if (!m || m.length < 2) return frames;
  for (const g of m.slice(1)) {
    if (g === undefined || skipRe.test(g)) continue;
    let name = g;
    for (const p of STRIP_PREFIXES) if (name.startsWith(p)) name = name.slice(p.length);
    return [...frames, name];
  }
  return frames;
}

function isCorrupted(title: string, report: string, f: Format): string | undefined {
  if (/\[ *[0-9]+\.[0-9]+\]/.test(title)) return "title matches corrupted regexp";
  if (f.noStackTrace) return undefined;
  let hasStackTrace = false;
  for (const key of STACK_STARTS) {
    const m = key.exec(report);
    if (!m) continue;
    let frames = report.slice(m.index).split("\n");
    if (frames[frames.length - 1] === "") frames = frames.slice(0, -1);
    if (frames.length < 4) return "call trace is missed";
    frames = frames.slice(1);
    let bad = true;
    for (let i = 0; i < 15 && i < frames.length; i++) {
      if (STACK_STARTS.some((r) => r.test(frames[i]))) break;
      if (frames[i].includes("(stack is not available)") || FRAME_RES.some((r) => r.test(frames[i]))) {
        hasStackTrace = true;
        bad = false;
        break;
      }
    }
    if (bad) return "no frames in a stack trace";
  }
  if (!hasStackTrace) return "no stack trace in report";
  return undefined;
}

/** Every `%pS` in a log: the same symbol must have one size, and every offset must lie inside it. */
export function symbolProblems(log: string): string[] {
  const sizes = new Map<string, Set<number>>();
  const problems: string[] = [];
  const sym = /(?:^|[\s:(])([A-Za-z_][A-Za-z0-9_.$]*)\+0x([0-9a-f]+)\/0x([0-9a-f]+)(?: \[([A-Za-z0-9_]+)\])?/g;
  for (const line of log.split("\n")) {
    for (const m of line.matchAll(sym)) {
      const key = m[4] ? `${m[1]} [${m[4]}]` : m[1];
      const off = parseInt(m[2], 16), size = parseInt(m[3], 16);
      if (off >= size) problems.push(`offset past the end of the symbol: ${m[0].trim()}`);
      let s = sizes.get(key);
      if (!s) sizes.set(key, (s = new Set()));
      s.add(size);
    }
  }
  for (const [key, s] of sizes) if (s.size > 1) problems.push(`${key} has ${s.size} sizes: ${[...s].map((v) => "0x" + v.toString(16)).join(", ")}`);
  return problems;
}

/** Symbols in a report's stacks that cannot be kernel functions (a JS helper of the port, an anonymous frame). */
export function foreignFrames(report: string): string[] {
  const out: string[] = [];
  for (const line of report.split("\n")) {
    const m = /^(?: |pc : |RIP: 0010:|lr : )([^\s+]+)\+0x[0-9a-f]+\/0x[0-9a-f]+/.exec(line);
    if (m && !/^[a-z_][a-z0-9_]*(?:\.[a-z]+\.[0-9]+|\.[a-z]+)?$/.test(m[1])) out.push(m[1]);
  }
  return out;
}

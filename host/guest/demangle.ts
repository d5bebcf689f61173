// Rust symbol names as a symbolizer prints them: legacy `_ZN…17h<hash>E`
// (rustc's default through 1.x) and v0 `_R…` (-C symbol-mangling-version=v0,
// the kernel's Rust). The hash is dropped, as `rustc-demangle`'s alternate
// form and llvm-symbolizer print them (`prog::main`). Anything that does not
// parse completely is returned unchanged; C and C++ names pass through.

/** The demangled name of a Rust symbol, or the name itself. */
export function demangle(name: string): string {
  // ThinLTO's `.llvm.<n>` is dropped, as kallsyms' cleanup_symbol_name() does; other suffixes (`.cold`) stay
  const sym = name.replace(/\.llvm\.[0-9]+$/, "");
  let out: [string, number] | undefined;
  try {
    if (/^_?_ZN/.test(sym)) out = legacy(sym.slice(sym.indexOf("ZN") + 2));
    else if (/^_?_R[A-Z_0-9]/.test(sym)) out = new V0(sym.slice(sym.indexOf("R") + 1)).symbol();
  } catch {
    out = undefined;
  }
  if (out === undefined) return name;
  const [text, end] = out;
  const suffix = sym.slice(sym.length - end);
  if (suffix !== "" && !/^\.[!-~]*$/.test(suffix)) return name;
  return text + suffix;
}

// ── legacy ────────────────────────────────────────────────────────────────────
const ESCAPES: Record<string, string> = { SP: "@", BP: "*", RF: "&", LT: "<", GT: ">", LP: "(", RP: ")", C: "," };

/** The demangled path and how many characters of s follow the symbol (its suffix). */
function legacy(s: string): [string, number] | undefined {
  const parts: string[] = [];
  let i = 0;
  while (i < s.length && s[i] !== "E") {
    let j = i;
    while (j < s.length && s[j] >= "0" && s[j] <= "9") j++;
    if (j === i || (s[i] === "0" && j > i + 1)) return undefined;
    const len = Number(s.slice(i, j));
    if (j + len > s.length) return undefined;
    parts.push(s.slice(j, j + len));
    i = j + len;
  }
  if (i >= s.length || parts.length === 0) return undefined;
  // a Rust legacy symbol ends with its hash: h + 16 hex digits (C++ names have no such part)
  const hash = parts[parts.length - 1];
  if (!/^h[0-9a-f]{16}$/.test(hash) || parts.length < 2) return undefined;
  const names = parts.slice(0, -1).map(legacyIdent);
  return names.some((n) => n === undefined) ? undefined : [names.join("::"), s.length - i - 1];
}

function legacyIdent(id: string): string | undefined {
  if (id.startsWith("_$")) id = id.slice(1);
  let out = "";
  for (let i = 0; i < id.length;) {
    const c = id[i];
    if (c === "$") {
      const end = id.indexOf("$", i + 1);
      if (end < 0) return undefined;
      const code = id.slice(i + 1, end);
      if (ESCAPES[code] !== undefined) out += ESCAPES[code];
      else if (/^u[0-9a-f]{1,6}$/.test(code)) {
        const cp = parseInt(code.slice(1), 16);
        if (cp > 0x10ffff || cp < 0x20) return undefined;
        out += String.fromCodePoint(cp);
      } else return undefined;
      i = end + 1;
    } else if (c === "." && id[i + 1] === ".") {
      out += "::";
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

// ── v0 ────────────────────────────────────────────────────────────────────────
// The grammar of RFC 2603: <path> [<instantiating-crate>] [<vendor-specific-suffix>].
const BASIC: Record<string, string> = {
  a: "i8", b: "bool", c: "char", d: "f64", e: "str", f: "f32", h: "u8", i: "isize", j: "usize", l: "i32", m: "u32",
  n: "i128", o: "u128", s: "i16", t: "u16", u: "()", v: "...", x: "i64", y: "u64", z: "!", p: "_",
};
/** How deep paths and types may nest (a hostile name cannot recurse without bound). */
const V0_MAX_DEPTH = 64;
/** Productions a name may expand to, and the longest text it may give (kallsyms keeps 511 characters anyway). */
const V0_MAX_STEPS = 10000;
const V0_MAX_TEXT = 4096;

class V0 {
  private i = 0;
  private depth = 0;
  private steps = 0;
  /** The disambiguator of the last identifier (a closure's index). */
  private dis = 0;
  constructor(private readonly s: string) {}

  symbol(): [string, number] {
    const path = this.path(true);
    // an instantiating crate may follow (not printed); then a vendor suffix starting with "."
    if (this.i < this.s.length && this.s[this.i] !== ".") this.path(false);
    return [path, this.s.length - this.i];
  }

  private peek(): string { return this.s[this.i] ?? ""; }
  private next(): string {
    if (this.i >= this.s.length) throw new Error("end");
    return this.s[this.i++];
  }
  private enter<T>(fn: () => T): T {
    // backrefs can repeat a subtree at every level: bound the work and the text, not only the depth
    if (++this.depth > V0_MAX_DEPTH || ++this.steps > V0_MAX_STEPS) throw new Error("too deep");
    try {
      const r = fn();
      if (typeof r === "string" && r.length > V0_MAX_TEXT) throw new Error("too long");
      return r;
    } finally { this.depth--; }
  }
  /** <base-62-number>: `_` is 0, else digits then `_` is value + 1. */
  private base62(): number {
    if (this.peek() === "_") { this.i++; return 0; }
    let v = 0;
    for (;;) {
      const c = this.next();
      if (c === "_") return v + 1;
      const d = c >= "0" && c <= "9" ? c.charCodeAt(0) - 48 : c >= "a" && c <= "z" ? c.charCodeAt(0) - 87 : c >= "A" && c <= "Z" ? c.charCodeAt(0) - 29 : -1;
      if (d < 0) throw new Error("base62");
      v = Math.min(v * 62 + d, 2 ** 52);      // a crate's disambiguator is a 64-bit hash: only small values matter
    }
  }
  private optBase62(tag: string): number {
    if (this.peek() !== tag) return 0;
    this.i++;
    return this.base62() + 1;
  }
  private decimal(): number {
    let j = this.i;
    while (this.s[j] >= "0" && this.s[j] <= "9") j++;
    if (j === this.i) throw new Error("decimal");
    const v = Number(this.s.slice(this.i, j));
    this.i = j;
    return v;
  }
  /** <identifier> = [<disambiguator>] <undisambiguated-identifier> */
  private ident(): string {
    this.dis = this.optBase62("s");
    const punycode = this.peek() === "u";
    if (punycode) this.i++;
    const len = this.decimal();
    if (this.peek() === "_") this.i++;
    if (this.i + len > this.s.length) throw new Error("ident");
    const id = this.s.slice(this.i, this.i + len);
    this.i += len;
    if (punycode) throw new Error("punycode");      // not decoded here: the raw name is printed
    return id;
  }
  /** A backref: the same production again at an earlier position. */
  private backref<T>(fn: () => T): T {
    const target = this.base62();
    if (target >= this.i - 1) throw new Error("backref");
    const save = this.i;
    this.i = target;
    try { return this.enter(fn); } finally { this.i = save; }
  }

  /** inValue: a value path (the symbol and its prefixes) spells generic arguments `::<…>`, a type `<…>`. */
  private path(inValue: boolean): string {
    return this.enter(() => {
      const tag = this.next();
      switch (tag) {
        case "C": return this.ident();
        case "N": {
          const ns = this.next();
          const parent = this.path(inValue);
          const id = this.ident();
          if (ns >= "A" && ns <= "Z") {
            // closures and shims: {closure#N} as rustc-demangle prints them
            const what = ns === "C" ? "closure" : ns === "S" ? "shim" : ns;
            return `${parent}::{${what}${id ? ":" + id : ""}#${this.dis}}`;
          }
          return id ? `${parent}::${id}` : parent;
        }
        case "M": { this.implPath(); const t = this.type(); return `<${t}>`; }
        case "X": { this.implPath(); const t = this.type(); const tr = this.path(false); return `<${t} as ${tr}>`; }
        case "Y": { const t = this.type(); const tr = this.path(false); return `<${t} as ${tr}>`; }
        case "I": {
          const p = this.path(inValue);
          const args: string[] = [];
          while (this.peek() !== "E") args.push(this.genericArg());
          this.i++;
          return `${p}${inValue ? "::" : ""}<${args.join(", ")}>`;
        }
        case "B": return this.backref(() => this.path(inValue));
        default: throw new Error("path");
      }
    });
  }
  private implPath(): void {
    this.optBase62("s");
    this.path(false);
  }
  private genericArg(): string {
    if (this.peek() === "L") { this.i++; this.base62(); return "'_"; }
    if (this.peek() === "K") { this.i++; return this.konst(); }
    return this.type();
  }
  private konst(): string {
    if (this.peek() === "p") { this.i++; return "_"; }
    if (this.peek() === "B") { this.i++; return this.backref(() => this.konst()); }
    const t = this.next();
    const neg = this.peek() === "n";
    if (neg) this.i++;
    let hex = "";
    while (this.peek() !== "_") hex += this.next();
    this.i++;
    if (!/^[0-9a-f]*$/.test(hex)) throw new Error("const");
    const v = BigInt("0x" + (hex || "0"));
    if (t === "b") return v ? "true" : "false";
    return `${neg ? "-" : ""}${v}`;
  }
  private type(): string {
    return this.enter(() => {
      const c = this.peek();
      if (BASIC[c] !== undefined) { this.i++; return BASIC[c]; }
      this.i++;
      switch (c) {
        case "R": case "Q": {
          if (this.peek() === "L") { this.i++; this.base62(); }
          return `&${c === "Q" ? "mut " : ""}${this.type()}`;
        }
        case "P": return `*const ${this.type()}`;
        case "O": return `*mut ${this.type()}`;
        case "A": { const t = this.type(); return `[${t}; ${this.konst()}]`; }
        case "S": return `[${this.type()}]`;
        case "T": {
          const ts: string[] = [];
          while (this.peek() !== "E") ts.push(this.type());
          this.i++;
          return ts.length === 1 ? `(${ts[0]},)` : `(${ts.join(", ")})`;
        }
        case "F": {
          this.optBase62("G");
          let abi = "";
          if (this.peek() === "U") { this.i++; abi = "unsafe "; }
          if (this.peek() === "K") { this.i++; abi += this.peek() === "C" ? (this.i++, 'extern "C" ') : `extern "${this.ident()}" `; }
          const ps: string[] = [];
          while (this.peek() !== "E") ps.push(this.type());
          this.i++;
          const ret = this.type();
          return `${abi}fn(${ps.join(", ")})${ret === "()" ? "" : " -> " + ret}`;
        }
        case "D": {
          this.optBase62("G");
          const bounds: string[] = [];
          while (this.peek() !== "E") {
            let b = this.path(false);
            while (this.peek() === "p") { this.i++; b += ` ${this.ident()}=${this.type()}`; }
            bounds.push(b);
          }
          this.i++;
          if (this.peek() === "L") { this.i++; this.base62(); }
          return `dyn ${bounds.join(" + ")}`;
        }
        case "B": return this.backref(() => this.type());
        default: this.i--; return this.path(false);
      }
    });
  }
}

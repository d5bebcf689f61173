// Rust symbol names as a symbolizer prints them: legacy `_ZN…17h<hash>E` and
// v0 `_R…` (the kernel's Rust), the hash dropped as llvm-symbolizer and
// rustc-demangle's alternate form do (`prog::main`). A name that does not
// parse completely comes back unchanged; C and C++ names pass through.

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
  if (!out) return name;
  const suffix = sym.slice(sym.length - out[1]);
  return suffix === "" || /^\.[!-~]*$/.test(suffix) ? out[0] + suffix : name;
}

const ESCAPES: Record<string, string> = { SP: "@", BP: "*", RF: "&", LT: "<", GT: ">", LP: "(", RP: ")", C: "," };

/** Legacy: <len><ident>… E, the last ident h + 16 hex digits (C++ names have no such part). Returns the path and the suffix length. */
function legacy(s: string): [string, number] | undefined {
  const parts: string[] = [];
  let i = 0;
  while (s[i] !== "E") {
    const m = /^[1-9][0-9]*/.exec(s.slice(i, i + 10));
    if (!m) return undefined;
    i += m[0].length;
    const len = Number(m[0]);
    if (i + len > s.length) return undefined;
    parts.push(s.slice(i, i + len));
    i += len;
  }
  if (parts.length < 2 || !/^h[0-9a-f]{16}$/.test(parts.pop()!)) return undefined;
  let bad = false;
  const names = parts.map((id) => (id.startsWith("_$") ? id.slice(1) : id)
    .replace(/\$([A-Z]{1,2}|u[0-9a-f]{1,6})\$|\$|\.\./g, (m, code?: string) => {
      if (m === "..") return "::";
      const cp = code?.[0] === "u" ? parseInt(code.slice(1), 16) : -1;
      const r = code === undefined ? undefined : ESCAPES[code] ?? (cp >= 0x20 && cp <= 0x10ffff ? String.fromCodePoint(cp) : undefined);
      if (r === undefined) bad = true;
      return r ?? "";
    }));
  return bad ? undefined : [names.join("::"), s.length - i - 1];
}

// v0 (RFC 2603): <path> [<instantiating-crate>] [<vendor-specific-suffix>]
const BASIC: Record<string, string> = {
  a: "i8", b: "bool", c: "char", d: "f64", e: "str", f: "f32", h: "u8", i: "isize", j: "usize", l: "i32", m: "u32",
  n: "i128", o: "u128", s: "i16", t: "u16", u: "()", v: "...", x: "i64", y: "u64", z: "!", p: "_",
};
/** Bounds for a hostile name: nesting, productions expanded (backrefs repeat subtrees), text. */
const V0_MAX_DEPTH = 64, V0_MAX_STEPS = 10000, V0_MAX_TEXT = 4096;

class V0 {
  private i = 0;
  private depth = 0;
  private steps = 0;
  /** The disambiguator of the last identifier (a closure's index). */
  private dis = 0;
  constructor(private readonly s: string) {}

  symbol(): [string, number] {
    const path = this.path(true);
    // an instantiating crate may follow (not printed), then a vendor suffix starting with "."
    if (this.i < this.s.length && this.s[this.i] !== ".") this.path(false);
    return [path, this.s.length - this.i];
  }
  private peek(): string { return this.s[this.i] ?? ""; }
  private next(): string {
    if (this.i >= this.s.length) throw new Error("end");
    return this.s[this.i++];
  }
  private eat(c: string): boolean {
    if (this.peek() !== c) return false;
    this.i++;
    return true;
  }
  private enter(fn: () => string): string {
    if (++this.depth > V0_MAX_DEPTH || ++this.steps > V0_MAX_STEPS) throw new Error("too deep");
    try {
      const r = fn();
      if (r.length > V0_MAX_TEXT) throw new Error("too long");
      return r;
    } finally { this.depth--; }
  }
  /** <base-62-number>: `_` is 0, digits then `_` the value + 1. */
  private base62(): number {
    let v = 0;
    if (this.eat("_")) return 0;
    for (let c = this.next(); c !== "_"; c = this.next()) {
      const d = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".indexOf(c);
      if (d < 0) throw new Error("base62");
      v = Math.min(v * 62 + d, 2 ** 52);      // a crate's disambiguator is a 64-bit hash: only small values matter
    }
    return v + 1;
  }
  private opt62(tag: string): number { return this.eat(tag) ? this.base62() + 1 : 0; }
  /** <identifier>: [s<base-62>] [u] <decimal> [_] <bytes> (punycode is not decoded: the raw name is printed). */
  private ident(): string {
    this.dis = this.opt62("s");
    if (this.eat("u")) throw new Error("punycode");
    const m = /^(0|[1-9][0-9]{0,5})_?/.exec(this.s.slice(this.i, this.i + 8));
    if (!m || this.i + m[0].length + Number(m[1]) > this.s.length) throw new Error("ident");
    this.i += m[0].length;
    this.i += Number(m[1]);
    return this.s.slice(this.i - Number(m[1]), this.i);
  }
  /** A backref: the same production at an earlier position. */
  private backref(fn: () => string): string {
    const target = this.base62(), save = this.i;
    if (target >= save) throw new Error("backref");
    this.i = target;
    try { return this.enter(fn); } finally { this.i = save; }
  }
  /** inValue: a value path (the symbol and its prefixes) spells generic arguments `::<…>`, a type `<…>`. */
  private path(inValue: boolean): string {
    return this.enter(() => {
      const tag = this.next();
      if (tag === "C") return this.ident();
      if (tag === "N") {
        const ns = this.next(), parent = this.path(inValue), id = this.ident();
        // closures and shims as rustc-demangle prints them: {closure#N}, {shim:vtable#0}
        if (ns >= "A" && ns <= "Z") return `${parent}::{${ns === "C" ? "closure" : ns === "S" ? "shim" : ns}${id ? ":" + id : ""}#${this.dis}}`;
        return id ? `${parent}::${id}` : parent;
      }
      if (tag === "M" || tag === "X") { this.opt62("s"); this.path(false); }
      if (tag === "M") return `<${this.type()}>`;
      if (tag === "X" || tag === "Y") { const t = this.type(); return `<${t} as ${this.path(false)}>`; }
      if (tag === "I") {
        const p = this.path(inValue);
        return `${p}${inValue ? "::" : ""}<${this.list(() => this.genericArg()).join(", ")}>`;
      }
      if (tag === "B") return this.backref(() => this.path(inValue));
      throw new Error("path");
    });
  }
  /** Items up to the closing E. */
  private list(item: () => string): string[] {
    const out: string[] = [];
    while (!this.eat("E")) out.push(item());
    return out;
  }
  private genericArg(): string {
    if (this.eat("L")) { this.base62(); return "'_"; }
    return this.eat("K") ? this.konst() : this.type();
  }
  private konst(): string {
    if (this.eat("p")) return "_";
    if (this.eat("B")) return this.backref(() => this.konst());
    const t = this.next(), neg = this.eat("n");
    const m = /^([0-9a-f]*)_/.exec(this.s.slice(this.i, this.i + 40));
    if (!m) throw new Error("const");
    this.i += m[0].length;
    const v = BigInt("0x" + (m[1] || "0"));
    return t === "b" ? String(v !== 0n) : `${neg ? "-" : ""}${v}`;
  }
  private type(): string {
    return this.enter(() => {
      const c = this.next();
      if (BASIC[c] !== undefined) return BASIC[c];
      if (c === "R" || c === "Q") {
        if (this.eat("L")) this.base62();
        return `&${c === "Q" ? "mut " : ""}${this.type()}`;
      }
      if (c === "P" || c === "O") return `*${c === "P" ? "const" : "mut"} ${this.type()}`;
      if (c === "A") { const t = this.type(); return `[${t}; ${this.konst()}]`; }
      if (c === "S") return `[${this.type()}]`;
      if (c === "T") { const ts = this.list(() => this.type()); return ts.length === 1 ? `(${ts[0]},)` : `(${ts.join(", ")})`; }
      if (c === "F") {
        this.opt62("G");
        let abi = this.eat("U") ? "unsafe " : "";
        if (this.eat("K")) abi += `extern "${this.eat("C") ? "C" : this.ident()}" `;
        const ps = this.list(() => this.type()), ret = this.type();
        return `${abi}fn(${ps.join(", ")})${ret === "()" ? "" : " -> " + ret}`;
      }
      if (c === "D") {
        this.opt62("G");
        const bounds = this.list(() => {
          let b = this.path(false);
          while (this.eat("p")) b += ` ${this.ident()}=${this.type()}`;
          return b;
        });
        if (this.eat("L")) this.base62();
        return `dyn ${bounds.join(" + ")}`;
      }
      if (c === "B") return this.backref(() => this.type());
      this.i--;
      return this.path(false);
    });
  }
}

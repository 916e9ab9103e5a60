// A small LaTeX / plain-text math parser and an equivalence check for final answers, written for
// `math_answer`. It reads what answers are made of (numbers with thousands separators, \frac,
// \sqrt, \pi, powers, functions, intervals, tuples, sets, unions, matrices, equations and
// inequalities) into a tree, and decides equivalence numerically: expressions without variables
// are evaluated; expressions with variables are evaluated at a few fixed pseudo-random points
// (a cheap, sound-in-practice stand-in for symbolic simplification). No `eval`/`new Function`,
// no dependencies, so it runs on deployed Workers and costs a few KB of bundle.

export type Node =
  | { k: "num"; v: number }
  | { k: "var"; name: string }
  | { k: "neg"; a: Node }
  | { k: "bin"; op: "+" | "-" | "*" | "/" | "^" | "±"; a: Node; b: Node }
  | { k: "fn"; name: string; a: Node; pow?: Node }
  | { k: "fact"; a: Node }
  | { k: "mat"; rows: Node[][] }
  | { k: "seq"; open: string; close: string; items: Node[] }
  | { k: "union"; items: Node[] }
  | { k: "rel"; ops: string[]; parts: Node[] };

type Tok = { t: "num"; v: number; s: string } | { t: "id"; v: string } | { t: "op"; v: string } | { t: "cmd"; v: string };

const FUNCS = new Set([
  "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "ln", "log", "exp", "sqrt",
]);
const RELS = new Set(["=", "<", ">", "<=", ">=", "!=", "≈", "∈"]);

/** LaTeX noise -> plain tokens-friendly text. Idempotent-ish; safe on plain text. */
export function normalizeLatex(input: string): string {
  let s = input;
  // "\\frac" written with an escaped backslash (JSON-in-JSON answers) → "\frac"; keep "\\" row breaks.
  s = s.replace(/\\\\(?=[a-zA-Z])(?!(?:begin|end|hline)\b)/g, "\\");
  s = s.replace(/\\(?:left|right|big|Big|bigg|Bigg)[lr]?(?![a-zA-Z])\s*(\\[{}|]|[()[\]|.])?/g, (_m, d: string | undefined) => (d === "." ? "" : (d ?? "")));
  s = s.replace(/\\(?:displaystyle|textstyle|limits|mathbf|boldsymbol|bm)(?![a-zA-Z])/g, "");
  s = s.replace(/\\[dtc]frac(?![a-zA-Z])/g, "\\frac");
  s = s.replace(/\{,\s*\}/g, "").replace(/,\\!\s*/g, ",");
  s = s.replace(/\\\\|\\[!,;: ]|~|\\q?quad(?![a-zA-Z])/g, (m) => (m === "\\\\" ? m : " "));
  s = s.replace(/\\\\|\\\$|\$/g, (m) => (m === "\\\\" ? m : "")).replace(/[\u20ac\xa3]/g, "");
  s = s.replace(/\\\\|\\[()[\]]/g, (m) => (m === "\\\\" ? m : " "));
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])|°/g, "");
  s = s.replace(/\\%|%/g, "").replace(/\b(?:percentage|percent|pct)\b/gi, "");
  // \text{...}-like: units and words go; "and" becomes a list comma; math inside is kept.
  s = s.replace(/\\(?:text|textbf|textit|textnormal|textrm|mbox|mathrm|mathit|operatorname)\s*\{([^{}]*)\}(\s*\^\s*\{?[23]\}?)?/g, (_m, inner: string) => {
    const t = inner.trim();
    if (/^and$/i.test(t)) return ", ";
    if (/^[a-zA-Z]{2,}(?:\s+[a-zA-Z]+)*$/.test(t) && !FUNCS.has(t)) return " ";
    return ` ${t} `;
  });
  s = s.replace(/\band\b/g, ", ");
  s = s.replace(/\\(?:cdot|times|ast)(?![a-zA-Z])/g, "*").replace(/\\div(?![a-zA-Z])/g, "/");
  s = s.replace(/\\(?:leq?slant|leq|le)(?![a-zA-Z])|\u2264/g, "<=").replace(/\\(?:geq?slant|geq|ge)(?![a-zA-Z])|\u2265/g, ">=");
  s = s.replace(/\\lt(?![a-zA-Z])/g, "<").replace(/\\gt(?![a-zA-Z])/g, ">").replace(/\\(?:neq|ne)(?![a-zA-Z])|\u2260/g, "!=");
  s = s.replace(/\\approx(?![a-zA-Z])/g, "≈").replace(/\\in(?![a-zA-Z])/g, "∈").replace(/\\pm(?![a-zA-Z])|\xb1/g, "±");
  s = s.replace(/\\cup(?![a-zA-Z])|\u222a/g, "∪").replace(/\\infty(?![a-zA-Z])|\u221e/g, "∞").replace(/\u03c0/g, "\\pi");
  // \frac13, \frac3{3}, \frac{9}4, \sqrt3, \sqrt 2: single-character arguments get braces.
  s = s.replace(/\\frac\s*([0-9a-zA-Z])\s*([0-9a-zA-Z])/g, "\\frac{$1}{$2}");
  s = s.replace(/\\frac\s*([0-9a-zA-Z])/g, "\\frac{$1}");
  s = s.replace(/\\frac\s*(\{(?:[^{}]|\{[^{}]*\})*\})\s*([0-9a-zA-Z])/g, "\\frac$1{$2}");
  s = s.replace(/\\sqrt\s*([0-9a-zA-Z])/g, "\\sqrt{$1}");
  return s.trim();
}

function tokenize(s: string): Tok[] | null {
  const out: Tok[] = [];
  let i = 0;
  let depth = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const rest = s.slice(i);
    let m: RegExpMatchArray | null;
    if ((m = rest.match(/^\\begin\{([a-zA-Z]*matrix|array)\}(?:\{[^{}]*\})?/))) { out.push({ t: "op", v: "mat(" }); i += m[0].length; continue; }
    if ((m = rest.match(/^\\end\{([a-zA-Z]*matrix|array)\}/))) { out.push({ t: "op", v: "mat)" }); i += m[0].length; continue; }
    if (rest.startsWith("\\\\")) { out.push({ t: "op", v: "row" }); i += 2; continue; }
    if (rest.startsWith("\\{")) { out.push({ t: "op", v: "{{" }); depth++; i += 2; continue; }
    if (rest.startsWith("\\}")) { out.push({ t: "op", v: "}}" }); depth--; i += 2; continue; }
    if ((m = rest.match(/^\\([a-zA-Z]+)/))) {
      const name = m[1]!;
      i += m[0].length;
      if (name === "pi") out.push({ t: "id", v: "π" });
      else if (FUNCS.has(name) || name === "frac") out.push({ t: "cmd", v: name });
      else if (/^(alpha|beta|gamma|delta|theta|lambda|mu|sigma|phi|omega|tau|rho|epsilon|varepsilon|varphi|eta|zeta|xi|psi|chi|nu|kappa|[a-zA-Z]+)$/.test(name)) out.push({ t: "id", v: name });
      continue;
    }
    if ((m = rest.match(/^(?:\d+(?:\.\d+)?|\.\d+)/))) {
      let txt = m[0];
      // Thousands separators at the top level only: "7,425,000", "1 000" (never inside a tuple).
      const th = depth === 0 ? rest.match(/^[1-9]\d{0,2}(?:,\d{3})+(?![\d])(?:\.\d+)?/) ?? rest.match(/^[1-9]\d{0,2}(?: \d{3})+(?![\d.,])/) : null;
      if (th && th[0].length > txt.length) txt = th[0];
      let v = Number(txt.replace(/[, ]/g, ""));
      i += txt.length;
      // Base subscripts: 204_5, 1112122_3.
      const base = s.slice(i).match(/^_\{?(\d+)\}?/);
      if (base && /^\d+$/.test(txt)) {
        const b = Number(base[1]);
        if (b >= 2 && b <= 36) v = parseInt(txt, b);
        i += base[0].length;
      }
      out.push({ t: "num", v, s: txt });
      continue;
    }
    if (/[a-zA-Z]/.test(c)) {
      // Single-letter variables (xy = x*y); a subscript joins the name (x_1, a_{n}).
      let name = c;
      i++;
      const sub = s.slice(i).match(/^_(?:\{([^{}]*)\}|([a-zA-Z0-9]))/);
      if (sub) { name += "_" + (sub[1] ?? sub[2]); i += sub[0].length; }
      out.push({ t: "id", v: name });
      continue;
    }
    const two = rest.slice(0, 2);
    if (two === "<=" || two === ">=" || two === "!=" || two === "==") { out.push({ t: "op", v: two === "==" ? "=" : two }); i += 2; continue; }
    if ("+-*/^()[]{},=<>≈∈±∪∞&!|".includes(c)) {
      if (c === "(" || c === "[" || c === "{") depth++;
      if (c === ")" || c === "]" || c === "}") depth--;
      out.push(c === "∞" ? { t: "id", v: "∞" } : { t: "op", v: c === "−" ? "-" : c });
      i++;
      continue;
    }
    if (c === "−") { out.push({ t: "op", v: "-" }); i++; continue; }
    if (c === ":" || c === ";" || c === "." || c === "'" || c === '"') { i++; continue; }
    return null;
  }
  return out;
}

class Parser {
  i = 0;
  constructor(private toks: Tok[]) {}
  peek(): Tok | undefined { return this.toks[this.i]; }
  isOp(v: string): boolean { const t = this.toks[this.i]; return t?.t === "op" && t.v === v; }
  eat(v: string): boolean { if (this.isOp(v)) { this.i++; return true; } return false; }
  expect(v: string): void { if (!this.eat(v)) throw new Error(`expected ${v}`); }

  /** list := rel (',' rel)* */
  list(stop: string[]): Node[] {
    const items: Node[] = [this.rel()];
    while (this.eat(",")) {
      if (stop.some((s) => this.isOp(s))) break;
      items.push(this.rel());
    }
    return items;
  }
  rel(): Node {
    const parts = [this.union()];
    const ops: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t?.t === "op" && RELS.has(t.v)) { this.i++; ops.push(t.v); parts.push(this.union()); } else break;
    }
    return ops.length ? { k: "rel", ops, parts } : parts[0]!;
  }
  union(): Node {
    const items = [this.sum()];
    while (this.eat("∪")) items.push(this.sum());
    return items.length > 1 ? { k: "union", items } : items[0]!;
  }
  sum(): Node {
    let a = this.term();
    for (;;) {
      if (this.eat("+")) a = { k: "bin", op: "+", a, b: this.term() };
      else if (this.eat("-")) a = { k: "bin", op: "-", a, b: this.term() };
      else if (this.eat("±")) a = { k: "bin", op: "±", a, b: this.term() };
      else return a;
    }
  }
  startsPrimary(): boolean {
    const t = this.peek();
    if (!t) return false;
    if (t.t !== "op") return true;
    return t.v === "(" || t.v === "{" || t.v === "{{" || t.v === "mat(" || t.v === "[" || t.v === "|";
  }
  term(): Node {
    let a = this.unary();
    for (;;) {
      if (this.eat("*")) a = { k: "bin", op: "*", a, b: this.unary() };
      else if (this.eat("/")) a = { k: "bin", op: "/", a, b: this.unary() };
      else if (this.startsPrimary() && !this.isOp("|") && !this.isOp("[")) a = { k: "bin", op: "*", a, b: this.power() };
      else return a;
    }
  }
  unary(): Node {
    if (this.eat("-")) return { k: "neg", a: this.unary() };
    if (this.eat("+")) return this.unary();
    if (this.eat("±")) return this.unary();
    return this.power();
  }
  power(): Node {
    let a = this.postfix();
    if (this.eat("^")) {
      const b = this.isOp("-") ? (this.i++, { k: "neg", a: this.postfix() } as Node) : this.postfix();
      a = { k: "bin", op: "^", a, b };
    }
    return a;
  }
  postfix(): Node {
    let a = this.primary();
    while (this.isOp("!") && !(this.toks[this.i + 1]?.t === "op" && (this.toks[this.i + 1] as { v: string }).v === "=")) { this.i++; a = { k: "fact", a }; }
    return a;
  }
  group(): Node {
    // {...} argument
    this.expect("{");
    const items = this.list(["}"]);
    this.expect("}");
    return items.length === 1 ? items[0]! : { k: "seq", open: "{", close: "}", items };
  }
  arg(): Node {
    return this.isOp("{") ? this.group() : this.postfix();
  }
  primary(): Node {
    const t = this.peek();
    if (!t) throw new Error("unexpected end");
    this.i++;
    if (t.t === "num") return { k: "num", v: t.v };
    if (t.t === "id") return { k: "var", name: t.v };
    if (t.t === "cmd") {
      if (t.v === "frac") { const a = this.arg(); const b = this.arg(); return { k: "bin", op: "/", a, b }; }
      if (t.v === "sqrt") {
        if (this.eat("[")) { const n = this.sum(); this.expect("]"); const a = this.arg(); return { k: "bin", op: "^", a, b: { k: "bin", op: "/", a: { k: "num", v: 1 }, b: n } }; }
        return { k: "fn", name: "sqrt", a: this.arg() };
      }
      let pow: Node | undefined;
      if (this.eat("^")) pow = this.arg();
      const a = this.isOp("(") || this.isOp("{") ? this.primary() : this.power();
      return pow ? { k: "fn", name: t.v, a, pow } : { k: "fn", name: t.v, a };
    }
    switch (t.v) {
      case "(":
      case "[": {
        const items = this.list([")", "]"]);
        const close = this.peek();
        if (!(close?.t === "op" && (close.v === ")" || close.v === "]"))) throw new Error("unclosed");
        this.i++;
        if (items.length === 1 && t.v === "(" && close.v === ")") return items[0]!;
        if (items.length === 1 && t.v === "[" && close.v === "]" && items[0]!.k === "mat") return items[0]!;
        return { k: "seq", open: t.v, close: close.v, items };
      }
      case "{": { this.i--; return this.group(); }
      case "{{": {
        const items = this.isOp("}}") ? [] : this.list(["}}"]);
        this.expect("}}");
        return { k: "seq", open: "{{", close: "}}", items };
      }
      case "|": { const a = this.sum(); this.expect("|"); return { k: "fn", name: "abs", a }; }
      case "mat(": {
        const rows: Node[][] = [];
        let row: Node[] = [];
        for (;;) {
          if (this.eat("mat)")) break;
          if (this.eat("row")) { if (row.length) rows.push(row); row = []; continue; }
          if (this.eat("&")) continue;
          row.push(this.sum());
        }
        if (row.length) rows.push(row);
        return { k: "mat", rows };
      }
    }
    throw new Error(`unexpected ${t.v}`);
  }
}

/** Parses normalised LaTeX/plain math into a tree; null when it cannot. */
export function parseMath(text: string): Node | null {
  const toks = tokenize(text);
  if (!toks || toks.length === 0) return null;
  try {
    const p = new Parser(toks);
    const items = p.list([]);
    if (p.i !== toks.length) return null;
    return items.length === 1 ? items[0]! : { k: "seq", open: "", close: "", items };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

type Val = number | number[][];
type Env = Record<string, number>;

function fact(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 170) return NaN;
  let r = 1;
  for (let k = 2; k <= n; k++) r *= k;
  return r;
}

function mapMat(a: Val, b: Val, f: (x: number, y: number) => number): Val {
  if (typeof a === "number" && typeof b === "number") return f(a, b);
  if (typeof a !== "number" && typeof b !== "number") {
    if (a.length !== b.length || a[0]?.length !== b[0]?.length) return NaN;
    return a.map((r, i) => r.map((x, j) => f(x, b[i]![j]!)));
  }
  return NaN;
}

function mul(a: Val, b: Val): Val {
  if (typeof a === "number" && typeof b === "number") return a * b;
  if (typeof a === "number") return (b as number[][]).map((r) => r.map((x) => a * x));
  if (typeof b === "number") return a.map((r) => r.map((x) => x * b));
  const n = b.length;
  if (a[0]?.length !== n) return NaN;
  return a.map((r) => b[0]!.map((_x, j) => r.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
}

export function evaluate(n: Node, env: Env): Val {
  switch (n.k) {
    case "num": return n.v;
    case "var": {
      if (n.name === "π") return Math.PI;
      if (n.name === "∞") return Infinity;
      const v = env[n.name];
      return v === undefined ? NaN : v;
    }
    case "neg": { const a = evaluate(n.a, env); return typeof a === "number" ? -a : a.map((r) => r.map((x) => -x)); }
    case "fact": { const a = evaluate(n.a, env); return typeof a === "number" ? fact(a) : NaN; }
    case "mat": {
      const rows = n.rows.map((r) => r.map((x) => evaluate(x, env)));
      return rows.every((r) => r.every((x) => typeof x === "number")) ? (rows as number[][]) : NaN;
    }
    case "bin": {
      const a = evaluate(n.a, env);
      const b = evaluate(n.b, env);
      switch (n.op) {
        case "+": return mapMat(a, b, (x, y) => x + y);
        case "-": return mapMat(a, b, (x, y) => x - y);
        case "*": return mul(a, b);
        case "/": return typeof b === "number" ? mul(a, 1 / b) : NaN;
        case "^": return typeof a === "number" && typeof b === "number" ? pow(a, b) : NaN;
        case "±": return NaN;
      }
      return NaN;
    }
    case "fn": {
      const a = evaluate(n.a, env);
      if (typeof a !== "number") return NaN;
      let r: number;
      switch (n.name) {
        case "sin": r = Math.sin(a); break;
        case "cos": r = Math.cos(a); break;
        case "tan": r = Math.tan(a); break;
        case "sec": r = 1 / Math.cos(a); break;
        case "csc": r = 1 / Math.sin(a); break;
        case "cot": r = 1 / Math.tan(a); break;
        case "arcsin": r = Math.asin(a); break;
        case "arccos": r = Math.acos(a); break;
        case "arctan": r = Math.atan(a); break;
        case "sinh": r = Math.sinh(a); break;
        case "cosh": r = Math.cosh(a); break;
        case "tanh": r = Math.tanh(a); break;
        case "ln": r = Math.log(a); break;
        case "log": r = Math.log10(a); break;
        case "exp": r = Math.exp(a); break;
        case "sqrt": r = Math.sqrt(a); break;
        case "abs": r = Math.abs(a); break;
        default: r = NaN;
      }
      if (n.pow) { const p = evaluate(n.pow, env); r = typeof p === "number" ? Math.pow(r, p) : NaN; }
      return r;
    }
    default: return NaN;
  }
}

function pow(a: number, b: number): number {
  // Real odd roots of negatives: (-8)^(1/3) = -2.
  if (a < 0 && !Number.isInteger(b)) {
    const inv = 1 / b;
    if (Number.isInteger(Math.round(inv)) && Math.abs(inv - Math.round(inv)) < 1e-9 && Math.round(inv) % 2 !== 0) return -Math.pow(-a, b);
  }
  return Math.pow(a, b);
}

export function freeVars(n: Node, out: Set<string> = new Set()): Set<string> {
  switch (n.k) {
    case "var": if (n.name !== "π" && n.name !== "∞") out.add(n.name); break;
    case "neg": case "fact": freeVars(n.a, out); break;
    case "bin": freeVars(n.a, out); freeVars(n.b, out); break;
    case "fn": freeVars(n.a, out); if (n.pow) freeVars(n.pow, out); break;
    case "mat": n.rows.forEach((r) => r.forEach((x) => freeVars(x, out))); break;
    case "seq": case "union": n.items.forEach((x) => freeVars(x, out)); break;
    case "rel": n.parts.forEach((x) => freeVars(x, out)); break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Equivalence

export interface Tolerance {
  /** Relative tolerance. */
  rel: number;
  /** Absolute tolerance (from a number of decimal digits), 0 for none. */
  abs: number;
}

export function numEq(a: number, b: number, tol: Tolerance): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const d = Math.abs(a - b);
  return d <= tol.rel * Math.max(1, Math.abs(a), Math.abs(b)) || d <= tol.abs;
}

// Fixed pseudo-random sample points (deterministic: the same answer always gets the same verdict).
const POINTS: number[] = [0.7313, 1.4142, 0.3719, 1.9081, 1.1737, 0.5521, 2.2361, 0.8867];

function valEq(a: Val, b: Val, tol: Tolerance): boolean | null {
  if (typeof a === "number" && typeof b === "number") {
    if (Number.isNaN(a) || Number.isNaN(b)) return null;
    return numEq(a, b, tol);
  }
  if (typeof a === "number" || typeof b === "number") return false;
  if (a.length !== b.length || a.some((r, i) => r.length !== b[i]!.length)) return false;
  let ok = true;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i]!.length; j++) {
    const r = valEq(a[i]![j]!, b[i]![j]!, tol);
    if (r === null) return null;
    ok &&= r;
  }
  return ok;
}

/** Numeric/symbolic equality of two expressions: evaluated at up to 6 points over their variables. */
export function exprEq(a: Node, b: Node, tol: Tolerance): boolean | null {
  const vars = [...freeVars(a, freeVars(b))];
  if (vars.length === 0) return valEq(evaluate(a, {}), evaluate(b, {}), tol);
  let good = 0;
  for (let p = 0; p < 6; p++) {
    const env: Env = {};
    vars.forEach((v, i) => { env[v] = POINTS[(p + 3 * i) % POINTS.length]! + 0.113 * i; });
    const r = valEq(evaluate(a, env), evaluate(b, env), { rel: Math.max(tol.rel, 1e-9), abs: tol.abs });
    if (r === false) return false;
    if (r === true) good++;
  }
  return good >= 2 ? true : null;
}

/** f and g are proportional (f = c.g), with c > 0 when `positive`. */
function proportional(f: Node, g: Node, positive: boolean): boolean {
  const vars = [...freeVars(f, freeVars(g))];
  let ratio: number | null = null;
  let good = 0;
  for (let p = 0; p < 6; p++) {
    const env: Env = {};
    vars.forEach((v, i) => { env[v] = POINTS[(p + 3 * i) % POINTS.length]! + 0.113 * i; });
    const x = evaluate(f, env);
    const y = evaluate(g, env);
    if (typeof x !== "number" || typeof y !== "number" || !Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (Math.abs(y) < 1e-12) { if (Math.abs(x) < 1e-12) continue; return false; }
    const r = x / y;
    if (ratio === null) ratio = r;
    else if (Math.abs(r - ratio) > 1e-7 * Math.max(1, Math.abs(ratio))) return false;
    good++;
  }
  if (ratio === null || good < 2 || Math.abs(ratio) < 1e-12) return false;
  return positive ? ratio > 0 : true;
}

const isBareVar = (n: Node) => n.k === "var" && n.name !== "π" && n.name !== "∞";
const sub = (a: Node, b: Node): Node => ({ k: "bin", op: "-", a, b });

/** `x = 5+5+1 = 7 = 11` -> 11, `x = 1/3 ~ 0.33` -> 1/3, `k = 1` -> 1; an equation `2x+4y = 3` stays. */
export function reduceRelation(n: Node, keepEquation: boolean): Node {
  if (n.k !== "rel") return n;
  if (n.ops.some((o) => o !== "=" && o !== "≈")) {
    if (n.ops.length === 1 && n.ops[0] === "∈" && isBareVar(n.parts[0]!)) return n.parts[1]!;
    return n;
  }
  if (keepEquation && n.parts.length === 2 && n.ops[0] === "=") return n;
  const approx = n.ops.indexOf("≈");
  if (approx >= 0) {
    const before = n.parts[approx]!;
    return isBareVar(before) ? n.parts[approx + 1]! : before;
  }
  return n.parts[n.parts.length - 1]!;
}

/** Is `n` an equation that should be compared as one (not an assignment like `x = 3`)? */
export function isEquation(n: Node): boolean {
  return n.k === "rel" && n.parts.length === 2 && n.ops[0] === "=" && !isBareVar(n.parts[0]!);
}

type Ineq = { f: Node; op: "<" | "<=" | "!=" };
function asIneq(n: Node): Ineq | null {
  if (n.k !== "rel" || n.parts.length !== 2) return null;
  const [a, b] = n.parts as [Node, Node];
  switch (n.ops[0]) {
    case "<": return { f: sub(a, b), op: "<" };
    case "<=": return { f: sub(a, b), op: "<=" };
    case ">": return { f: sub(b, a), op: "<" };
    case ">=": return { f: sub(b, a), op: "<=" };
    case "!=": return { f: sub(a, b), op: "!=" };
  }
  return null;
}

/** `a <= x < b` -> the interval [a, b). */
function chainToInterval(n: Node): Node | null {
  if (n.k !== "rel" || n.parts.length !== 3 || !isBareVar(n.parts[1]!)) return null;
  const [o1, o2] = n.ops as [string, string];
  if ((o1 === "<" || o1 === "<=") && (o2 === "<" || o2 === "<="))
    return { k: "seq", open: o1 === "<" ? "(" : "[", close: o2 === "<" ? ")" : "]", items: [n.parts[0]!, n.parts[2]!] };
  return null;
}

function listItems(n: Node): Node[] | null {
  if (n.k === "seq") return n.items;
  return null;
}

function unordered(a: Node[], b: Node[], tol: Tolerance): boolean {
  if (a.length !== b.length) return false;
  const used = new Set<number>();
  for (const x of a) {
    const j = b.findIndex((y, k) => !used.has(k) && equivalent(x, y, tol) === true);
    if (j < 0) return false;
    used.add(j);
  }
  return true;
}

/** Decides whether two parsed answers are equivalent: true, false, or null (cannot tell). */
export function equivalent(gold: Node, pred: Node, tol: Tolerance): boolean | null {
  // Relations first: equations, inequalities, chains, set membership.
  const gEq = isEquation(gold);
  if (!gEq) gold = reduceRelation(gold, false);
  pred = reduceRelation(pred, gEq);
  gold = chainToInterval(gold) ?? gold;
  pred = chainToInterval(pred) ?? pred;
  if (gold.k === "rel" || pred.k === "rel") {
    if (gold.k !== "rel" || pred.k !== "rel") return false;
    if (isEquation(gold) && pred.parts.length === 2 && pred.ops[0] === "=") {
      return proportional(sub(gold.parts[0]!, gold.parts[1]!), sub(pred.parts[0]!, pred.parts[1]!), false);
    }
    const gi = asIneq(gold);
    const pi = asIneq(pred);
    if (gi && pi) return gi.op === pi.op && proportional(gi.f, pi.f, gi.op !== "!=");
    return false;
  }
  if (gold.k === "union" || pred.k === "union") {
    if (gold.k !== "union" || pred.k !== "union") return false;
    return unordered(gold.items, pred.items, tol);
  }
  const gl = listItems(gold);
  const pl = listItems(pred);
  if (gl || pl) {
    if (!gl || !pl) {
      // A one-element list/set against a scalar: {5} vs 5.
      const one = gl ?? pl!;
      return one.length === 1 ? equivalent(gl ? one[0]! : gold, pl ? one[0]! : pred, tol) : false;
    }
    const g = gold as Extract<Node, { k: "seq" }>;
    const p = pred as Extract<Node, { k: "seq" }>;
    const loose = (s: { open: string }) => s.open === "" || s.open === "{";
    if (g.open === "{{" || p.open === "{{" || (loose(g) && loose(p))) return unordered(g.items.flatMap(expandPm), p.items.flatMap(expandPm), tol);
    if (!loose(g) && !loose(p) && (g.open !== p.open || g.close !== p.close)) return false;
    if (g.items.length !== p.items.length) return false;
    for (let i = 0; i < g.items.length; i++) if (equivalent(g.items[i]!, p.items[i]!, tol) !== true) return false;
    return true;
  }
  if (hasPm(gold) || hasPm(pred)) {
    const ge = expandPm(gold);
    const pe = expandPm(pred);
    if (ge.length !== pe.length) return false;
    return unordered(ge, pe, tol);
  }
  return exprEq(gold, pred, tol);
}

function hasPm(n: Node): boolean {
  if (n.k === "bin") return n.op === "±" || hasPm(n.a) || hasPm(n.b);
  if (n.k === "neg" || n.k === "fn" || n.k === "fact") return hasPm(n.a);
  return false;
}

/** a +/- b -> [a + b, a - b] (one +/- only). */
function expandPm(n: Node): Node[] {
  if (n.k === "bin" && n.op === "±") return [{ ...n, op: "+" }, { ...n, op: "-" }];
  if (n.k === "bin") {
    const as = expandPm(n.a);
    if (as.length > 1) return as.map((a) => ({ ...n, a }));
    const bs = expandPm(n.b);
    return bs.map((b) => ({ ...n, b }));
  }
  return [n];
}

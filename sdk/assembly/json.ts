// A small JSON reader (and string quoting) for configurations: Json.parse(text) gives a JsonValue
// tree, or null with Json.lastError saying what and where. Numbers are f64; objects keep their key
// order; nesting deeper than 64 levels is refused.

export enum JsonType {
  Null = 0,
  Bool = 1,
  Number = 2,
  String = 3,
  Array = 4,
  Object = 5,
}

export class JsonValue {
  type: JsonType = JsonType.Null;
  private b: bool = false;
  private n: f64 = 0;
  private s: string = '';
  /** Array items, or object values (parallel to `names`). */
  private items: Array<JsonValue> | null = null;
  private names: Array<string> | null = null;

  static null(): JsonValue {
    return new JsonValue();
  }
  static bool(v: bool): JsonValue {
    const j = new JsonValue();
    j.type = JsonType.Bool;
    j.b = v;
    return j;
  }
  static number(v: f64): JsonValue {
    const j = new JsonValue();
    j.type = JsonType.Number;
    j.n = v;
    return j;
  }
  static string(v: string): JsonValue {
    const j = new JsonValue();
    j.type = JsonType.String;
    j.s = v;
    return j;
  }
  static array(): JsonValue {
    const j = new JsonValue();
    j.type = JsonType.Array;
    j.items = new Array<JsonValue>();
    return j;
  }
  static object(): JsonValue {
    const j = new JsonValue();
    j.type = JsonType.Object;
    j.items = new Array<JsonValue>();
    j.names = new Array<string>();
    return j;
  }

  get isNull(): bool {
    return this.type == JsonType.Null;
  }
  get isBool(): bool {
    return this.type == JsonType.Bool;
  }
  get isNumber(): bool {
    return this.type == JsonType.Number;
  }
  get isString(): bool {
    return this.type == JsonType.String;
  }
  get isArray(): bool {
    return this.type == JsonType.Array;
  }
  get isObject(): bool {
    return this.type == JsonType.Object;
  }

  /** The string, or null if this is not a string. */
  asString(): string | null {
    return this.type == JsonType.String ? this.s : null;
  }
  /** The number, or `fallback` if this is not a number. */
  asNumber(fallback: f64 = NaN): f64 {
    return this.type == JsonType.Number ? this.n : fallback;
  }
  /** The number as an integer (truncated), or `fallback`. */
  asInt(fallback: i64 = 0): i64 {
    return this.type == JsonType.Number && isFinite(this.n) ? <i64>this.n : fallback;
  }
  asBool(fallback: bool = false): bool {
    return this.type == JsonType.Bool ? this.b : fallback;
  }

  /** Items of an array, entries of an object; 0 otherwise. */
  get length(): i32 {
    const items = this.items;
    return items === null ? 0 : items.length;
  }

  /** Array item `i`, or null. */
  at(i: i32): JsonValue | null {
    const items = this.items;
    if (this.type != JsonType.Array || items === null || i < 0 || i >= items.length) return null;
    return items[i];
  }

  /** Object keys in document order (empty for anything else). */
  keys(): Array<string> {
    const names = this.names;
    return names === null ? new Array<string>() : names.slice(0);
  }

  /** The value of object key `key` (the last one if repeated), or null. */
  get(key: string): JsonValue | null {
    const names = this.names;
    const items = this.items;
    if (names === null || items === null) return null;
    for (let i = names.length - 1; i >= 0; i--) if (names[i] == key) return items[i];
    return null;
  }

  /** Object entry `i`: its key (for iterating with `length`). */
  keyAt(i: i32): string {
    const names = this.names;
    return names === null || i < 0 || i >= names.length ? '' : names[i];
  }

  /** Object entry `i`: its value. */
  valueAt(i: i32): JsonValue | null {
    const items = this.items;
    return items === null || i < 0 || i >= items.length ? null : items[i];
  }

  has(key: string): bool {
    return this.get(key) !== null;
  }

  getString(key: string, fallback: string | null = null): string | null {
    const v = this.get(key);
    return v !== null && v.type == JsonType.String ? v.s : fallback;
  }
  getNumber(key: string, fallback: f64 = NaN): f64 {
    const v = this.get(key);
    return v !== null ? v.asNumber(fallback) : fallback;
  }
  getInt(key: string, fallback: i64 = 0): i64 {
    const v = this.get(key);
    return v !== null ? v.asInt(fallback) : fallback;
  }
  getBool(key: string, fallback: bool = false): bool {
    const v = this.get(key);
    return v !== null ? v.asBool(fallback) : fallback;
  }
  /** The value of `key` if it is an object, else null. */
  getObject(key: string): JsonValue | null {
    const v = this.get(key);
    return v !== null && v.type == JsonType.Object ? v : null;
  }
  /** The value of `key` if it is an array, else null. */
  getArray(key: string): JsonValue | null {
    const v = this.get(key);
    return v !== null && v.type == JsonType.Array ? v : null;
  }

  /** Appends to an array. */
  push(v: JsonValue): JsonValue {
    const items = this.items;
    if (this.type == JsonType.Array && items !== null) items.push(v);
    return this;
  }
  /** Sets an object key (appending it). */
  set(key: string, v: JsonValue): JsonValue {
    const names = this.names;
    const items = this.items;
    if (names !== null && items !== null) {
      for (let i = 0; i < names.length; i++) {
        if (names[i] == key) {
          items[i] = v;
          return this;
        }
      }
      names.push(key);
      items.push(v);
    }
    return this;
  }

  /** Compact JSON text. */
  stringify(): string {
    switch (this.type) {
      case JsonType.Bool:
        return this.b ? 'true' : 'false';
      case JsonType.Number: {
        if (!isFinite(this.n)) return 'null';
        const t = this.n.toString();
        return t.endsWith('.0') ? t.substring(0, t.length - 2) : t;
      }
      case JsonType.String:
        return Json.quote(this.s);
      case JsonType.Array: {
        const items = this.items!;
        const parts = new Array<string>(items.length);
        for (let i = 0; i < items.length; i++) parts[i] = items[i].stringify();
        return '[' + parts.join(',') + ']';
      }
      case JsonType.Object: {
        const items = this.items!;
        const names = this.names!;
        const parts = new Array<string>(items.length);
        for (let i = 0; i < items.length; i++) parts[i] = Json.quote(names[i]) + ':' + items[i].stringify();
        return '{' + parts.join(',') + '}';
      }
    }
    return 'null';
  }
}

// The parser reads the UTF-16 code units of the text directly: `c()` is the unit at `pos`, or -1
// past the end.
class Parser {
  pos: i32 = 0;
  error: string = '';
  private base: usize;
  private len: i32;

  constructor(public text: string) {
    this.base = changetype<usize>(text);
    this.len = text.length;
  }

  c(): i32 {
    return this.pos < this.len ? <i32>load<u16>(this.base + (<usize>this.pos << 1)) : -1;
  }

  isDigit(): bool {
    const c = this.c();
    return c >= 0x30 && c <= 0x39;
  }

  fail(message: string): JsonValue | null {
    if (this.error.length == 0) this.error = message + ' at offset ' + this.pos.toString();
    return null;
  }

  skipSpace(): void {
    while (true) {
      const c = this.c();
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return;
      this.pos++;
    }
  }

  /** Consumes `ch` (after white space) or fails. */
  expect(ch: i32): bool {
    this.skipSpace();
    if (this.c() != ch) {
      this.fail("expected '" + String.fromCharCode(ch) + "'");
      return false;
    }
    this.pos++;
    return true;
  }

  literal(word: string, v: JsonValue): JsonValue | null {
    if (this.text.substr(this.pos, word.length) != word) return this.fail('unexpected character');
    this.pos += word.length;
    return v;
  }

  value(depth: i32): JsonValue | null {
    if (depth > 64) return this.fail('nesting too deep');
    this.skipSpace();
    const c = this.c();
    if (c == 0x7b || c == 0x5b) {
      // { or [
      const isObject = c == 0x7b;
      const close = isObject ? 0x7d : 0x5d;
      const v = isObject ? JsonValue.object() : JsonValue.array();
      this.pos++;
      this.skipSpace();
      if (this.c() == close) {
        this.pos++;
        return v;
      }
      while (true) {
        let key = '';
        if (isObject) {
          this.skipSpace();
          const q = this.c();
          if (q != 0x22) return this.fail(q < 0 ? 'unexpected end of input' : 'expected a string key');
          const k = this.string();
          if (k === null) return null;
          key = k;
          if (!this.expect(0x3a)) return null;
        }
        const item = this.value(depth + 1);
        if (item === null) return null;
        if (isObject) v.set(key, item);
        else v.push(item);
        this.skipSpace();
        const n = this.c();
        if (n == close) {
          this.pos++;
          return v;
        }
        if (n != 0x2c) return this.fail(n < 0 ? 'unexpected end of input' : 'unexpected character');
        this.pos++;
      }
    }
    if (c == 0x22) {
      const s = this.string();
      return s === null ? null : JsonValue.string(s);
    }
    if (c == 0x74) return this.literal('true', JsonValue.bool(true));
    if (c == 0x66) return this.literal('false', JsonValue.bool(false));
    if (c == 0x6e) return this.literal('null', JsonValue.null());
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    return this.fail(c < 0 ? 'unexpected end of input' : 'unexpected character');
  }

  string(): string | null {
    this.pos++; // "
    let out = '';
    let start = this.pos;
    while (true) {
      const c = this.c();
      if (c < 0x20) {
        this.fail(c < 0 ? 'unterminated string' : 'control character in string');
        return null;
      }
      if (c == 0x22) {
        out += this.text.substring(start, this.pos);
        this.pos++;
        return out;
      }
      this.pos++;
      if (c != 0x5c) continue;
      // an escape
      out += this.text.substring(start, this.pos - 1);
      const e = this.c();
      this.pos++;
      let code = e;
      if (e == 0x62) code = 0x08;
      else if (e == 0x66) code = 0x0c;
      else if (e == 0x6e) code = 0x0a;
      else if (e == 0x72) code = 0x0d;
      else if (e == 0x74) code = 0x09;
      else if (e == 0x75) {
        code = 0;
        for (let k = 0; k < 4; k++) {
          const h = this.c() | 0x20; // lower-case hex letters
          this.pos++;
          const d = h >= 0x30 && h <= 0x39 ? h - 0x30 : h >= 0x61 && h <= 0x66 ? h - 0x57 : -1;
          if (d < 0) {
            this.fail('bad escape');
            return null;
          }
          code = (code << 4) | d;
        }
      } else if (e != 0x22 && e != 0x5c && e != 0x2f) {
        this.fail('bad escape');
        return null;
      }
      out += String.fromCharCode(code);
      start = this.pos;
    }
    return null;
  }

  /** Digits (up to 19 significant) accumulate exactly, then scale by a power of ten. */
  number(): JsonValue | null {
    const negative = this.c() == 0x2d;
    if (negative) this.pos++;
    let mantissa: u64 = 0;
    let significant = 0;
    let exp10: i32 = 0;
    let seenDot = false;
    let digits = 0;
    while (true) {
      const c = this.c();
      if (c >= 0x30 && c <= 0x39) {
        if (significant < 19) {
          mantissa = mantissa * 10 + <u64>(c - 0x30);
          if (mantissa != 0) significant++;
          if (seenDot) exp10--;
        } else if (!seenDot) exp10++;
        digits++;
      } else if (c == 0x2e && !seenDot && digits > 0) {
        seenDot = true;
        digits = 0;
      } else break;
      this.pos++;
    }
    if (digits == 0) return this.fail('bad number');
    const e = this.c() | 0x20;
    if (e == 0x65) {
      this.pos++;
      const sign = this.c();
      if (sign == 0x2b || sign == 0x2d) this.pos++;
      if (!this.isDigit()) return this.fail('bad number');
      let exp = 0;
      while (this.isDigit()) {
        if (exp < 10000) exp = exp * 10 + (this.c() - 0x30);
        this.pos++;
      }
      exp10 += sign == 0x2d ? -exp : exp;
    }
    let v = <f64>mantissa;
    if (v != 0 && exp10 != 0) {
      let scale: f64 = 1;
      const k = exp10 < 0 ? -exp10 : exp10;
      for (let i = 0; i < k && scale != Infinity; i++) scale *= 10;
      v = exp10 > 0 ? v * scale : v / scale;
    }
    return JsonValue.number(negative ? -v : v);
  }
}

export class Json {
  /** Why the last `parse` returned null ('' after a success). */
  static lastError: string = '';

  /** Parses JSON text; null when it is not valid JSON (see `lastError`). */
  static parse(text: string): JsonValue | null {
    const p = new Parser(text);
    const v = p.value(0);
    if (v !== null) {
      p.skipSpace();
      if (p.pos < text.length) {
        p.fail('unexpected text after the value');
        Json.lastError = p.error;
        return null;
      }
      Json.lastError = '';
      return v;
    }
    Json.lastError = p.error;
    return null;
  }

  /** `s` as a JSON string literal, with quotes. */
  static quote(s: string): string {
    let out = '"';
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
      out += s.substring(start, i);
      if (c == 0x22) out += '\\"';
      else if (c == 0x5c) out += '\\\\';
      else if (c == 0x0a) out += '\\n';
      else if (c == 0x0d) out += '\\r';
      else if (c == 0x09) out += '\\t';
      else {
        const hex = c.toString(16);
        out += '\\u' + '0000'.substring(hex.length) + hex;
      }
      start = i + 1;
    }
    return out + s.substring(start) + '"';
  }
}

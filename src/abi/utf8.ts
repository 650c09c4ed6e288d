// UTF-8 helpers tuned for the hot path: header names and values are short and almost always ASCII,
// where a plain loop beats TextDecoder's per-call overhead.

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

export function decodeUtf8(bytes: Uint8Array, start: number, length: number): string {
  if (length < 48) {
    let ascii = true;
    const end = start + length;
    for (let i = start; i < end; i++) {
      if (bytes[i] > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      let s = '';
      for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
      return s;
    }
  }
  return decoder.decode(bytes.subarray(start, start + length));
}

export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Byte length of `text` once UTF-8 encoded, without encoding it. */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
        i++;
      } else n += 2; // lone surrogate: encoded as U+FFFD (3 bytes)
    } else n += 2;
  }
  return n;
}

/** Writes `text` at `offset`; returns bytes written. `target` must have room for utf8Length(text). */
export function writeUtf8(target: Uint8Array, offset: number, text: string): number {
  const len = text.length;
  let ascii = true;
  if (len < 48) {
    for (let i = 0; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) {
        ascii = false;
        break;
      }
      target[offset + i] = c;
    }
    if (ascii) return len;
  }
  return encoder.encodeInto(text, target.subarray(offset)).written;
}

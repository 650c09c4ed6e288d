// The protobuf wire format, as far as Envoy's foreign functions need it: their arguments and results are
// small proto3 messages (envoy/source/extensions/common/wasm/ext/*.proto). Reading keeps every field by
// number (unknown ones are skipped, as protobuf does); malformed bytes throw ProtobufError.

import { decodeUtf8, encodeUtf8 } from './utf8.js';

export class ProtobufError extends Error {}

type WireValue = bigint | Uint8Array;

/** A decoded message: each field number's values in order (proto3: the last one wins for a scalar). */
export class ProtoMessage {
  constructor(private readonly fields: ReadonlyMap<number, readonly WireValue[]>) {}

  private last(field: number): WireValue | undefined {
    const values = this.fields.get(field);
    return values?.[values.length - 1];
  }

  bytes(field: number): Uint8Array {
    const v = this.last(field);
    if (v === undefined) return new Uint8Array(0);
    if (typeof v === 'bigint') throw new ProtobufError(`field ${field} is a number, not bytes`);
    return v;
  }

  string(field: number): string {
    const b = this.bytes(field);
    return decodeUtf8(b, 0, b.length);
  }

  uint(field: number): bigint {
    const v = this.last(field);
    if (v === undefined) return 0n;
    if (typeof v !== 'bigint') throw new ProtobufError(`field ${field} is bytes, not a number`);
    return v;
  }

  bool(field: number): boolean {
    return this.uint(field) !== 0n;
  }
}

function varint(bytes: Uint8Array, at: { pos: number }): bigint {
  let result = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (at.pos >= bytes.length) throw new ProtobufError('truncated varint');
    const b = bytes[at.pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
  }
  throw new ProtobufError('varint longer than 10 bytes');
}

export function decodeMessage(bytes: Uint8Array): ProtoMessage {
  const fields = new Map<number, WireValue[]>();
  const at = { pos: 0 };
  const take = (n: number): Uint8Array => {
    if (at.pos + n > bytes.length) throw new ProtobufError('truncated field');
    const out = bytes.subarray(at.pos, at.pos + n);
    at.pos += n;
    return out;
  };
  while (at.pos < bytes.length) {
    const key = varint(bytes, at);
    const field = Number(key >> 3n);
    if (field === 0) throw new ProtobufError('field number 0');
    let value: WireValue;
    switch (Number(key & 7n)) {
      case 0:
        value = varint(bytes, at);
        break;
      case 1:
        value = new DataView(take(8).slice().buffer).getBigUint64(0, true);
        break;
      case 2: {
        const len = varint(bytes, at);
        if (len > BigInt(bytes.length - at.pos)) throw new ProtobufError('truncated field');
        value = take(Number(len));
        break;
      }
      case 5:
        value = BigInt(new DataView(take(4).slice().buffer).getUint32(0, true));
        break;
      default:
        throw new ProtobufError(`unsupported wire type ${Number(key & 7n)}`);
    }
    let list = fields.get(field);
    if (!list) {
      list = [];
      fields.set(field, list);
    }
    list.push(value);
  }
  return new ProtoMessage(fields);
}

function encodeVarint(n: bigint, out: number[]): void {
  let v = BigInt.asUintN(64, n);
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? b : b | 0x80);
  } while (v !== 0n);
}

/** A message from fields in order: booleans as varints, strings and bytes length-delimited; defaults omitted (proto3). */
export function encodeMessage(fields: Array<[number, boolean | string | Uint8Array]>): Uint8Array {
  const out: number[] = [];
  for (const [field, value] of fields) {
    if (typeof value === 'boolean') {
      if (!value) continue;
      encodeVarint(BigInt(field << 3), out);
      out.push(1);
      continue;
    }
    const bytes = typeof value === 'string' ? encodeUtf8(value) : value;
    if (bytes.length === 0) continue;
    encodeVarint(BigInt((field << 3) | 2), out);
    encodeVarint(BigInt(bytes.length), out);
    for (const b of bytes) out.push(b);
  }
  return Uint8Array.from(out);
}

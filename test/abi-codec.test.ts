// Unit tests of src/abi: the header-map wire format, HeaderMap, ByteBuffer and property encodings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ByteBuffer,
  decodeInt64,
  decodePairs,
  encodePairs,
  encodeProperty,
  HeaderMap,
  pairsSize,
  splitPropertyPath,
  structAt,
  structValue,
  utf8Length,
  writePairs,
} from '../src/abi/index.js';

const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const enc = new TextEncoder();

// The spec's example map {"a": "1", "b": "22"}. (The spec lists its bytes with a typo: '1' and '2' are
// written as 0x49 / 0x50, their decimal codes; the real bytes are 0x31 / 0x32.)
const SPEC_EXAMPLE = Uint8Array.from([
  ...u32(2),
  ...u32(1),
  ...u32(1),
  ...u32(1),
  ...u32(2),
  ...ascii('a'),
  0,
  ...ascii('1'),
  0,
  ...ascii('b'),
  0,
  ...ascii('22'),
  0,
]);

describe('header map wire format', () => {
  test("encodes the spec's example {a: 1, b: 22} byte for byte", () => {
    const bytes = encodePairs([
      ['a', '1'],
      ['b', '22'],
    ]);
    assert.deepEqual([...bytes], [...SPEC_EXAMPLE]);
    assert.equal(bytes.length, 4 + 2 * 8 + (1 + 1 + 2) + (1 + 1 + 2 + 1));
  });

  test("decodes the spec's example", () => {
    assert.deepEqual(decodePairs(SPEC_EXAMPLE), [
      ['a', '1'],
      ['b', '22'],
    ]);
  });

  test('decodes a map embedded at an offset of a larger buffer', () => {
    const big = new Uint8Array(SPEC_EXAMPLE.length + 10).fill(0xee);
    big.set(SPEC_EXAMPLE, 7);
    assert.deepEqual(decodePairs(big, 7, SPEC_EXAMPLE.length), [
      ['a', '1'],
      ['b', '22'],
    ]);
  });

  test('both empty-map forms (size 0 and a single 0 byte) decode to an empty map', () => {
    assert.deepEqual(decodePairs(new Uint8Array(0)), []);
    assert.deepEqual(decodePairs(Uint8Array.of(0)), []);
    assert.deepEqual(decodePairs(Uint8Array.from(u32(0))), []);
  });

  test('an empty map encodes as a zero count (4 bytes)', () => {
    assert.deepEqual([...encodePairs([])], u32(0));
    assert.equal(new HeaderMap().serializedSize(), 4);
    assert.deepEqual([...encodePairs(new HeaderMap())], u32(0));
  });

  test('malformed input decodes to undefined', () => {
    // Too short for a count.
    assert.equal(decodePairs(Uint8Array.of(1)), undefined);
    assert.equal(decodePairs(Uint8Array.of(0, 0)), undefined);
    assert.equal(decodePairs(Uint8Array.of(1, 0, 0)), undefined);
    // A count whose length table runs past the end.
    assert.equal(decodePairs(Uint8Array.from(u32(1))), undefined);
    assert.equal(decodePairs(Uint8Array.from([...u32(0xffffffff), ...u32(1), ...u32(1)])), undefined);
    // Lengths that run past the data.
    assert.equal(
      decodePairs(Uint8Array.from([...u32(1), ...u32(5), ...u32(1), ...ascii('ab'), 0])),
      undefined,
    );
    // Every truncation of a valid map is rejected.
    for (let len = 1; len < SPEC_EXAMPLE.length; len++) {
      assert.equal(decodePairs(SPEC_EXAMPLE.subarray(0, len)), undefined, `truncated to ${len} bytes`);
    }
  });

  test('UTF-8 keys and values round-trip; lengths are in bytes', () => {
    const pairs: Array<[string, string]> = [
      ['x-name', 'héllo wörld'],
      ['x-emoji', '🦀 ok'],
      ['x-cjk', '中文'],
    ];
    const bytes = encodePairs(pairs);
    assert.deepEqual(decodePairs(bytes), pairs);
    const dv = new DataView(bytes.buffer);
    assert.equal(dv.getUint32(4 + 4, true), enc.encode('héllo wörld').length);
    assert.equal(dv.getUint32(4 + 8 + 4, true), 7); // 4-byte emoji + " ok"
    assert.equal(dv.getUint32(4 + 16 + 4, true), 6);
    assert.equal(bytes.length, pairsSize(pairs.flat()));
    assert.equal(new HeaderMap(pairs).serializedSize(), bytes.length);
  });

  test('a long non-ASCII value (past the ASCII fast path) round-trips', () => {
    const value = 'ü'.repeat(100);
    const bytes = encodePairs([['k', value]]);
    assert.deepEqual(decodePairs(bytes), [['k', value]]);
    assert.equal(utf8Length(value), 200);
  });

  test('writePairs writes at an offset and returns the bytes written', () => {
    const target = new Uint8Array(SPEC_EXAMPLE.length + 3);
    const n = writePairs(['a', '1', 'b', '22'], target, 3);
    assert.equal(n, SPEC_EXAMPLE.length);
    assert.deepEqual([...target.subarray(3)], [...SPEC_EXAMPLE]);
    assert.deepEqual([...target.subarray(0, 3)], [0, 0, 0]);
  });

  test('utf8Length counts surrogate pairs as 4 bytes and lone surrogates as 3', () => {
    assert.equal(utf8Length('abc'), 3);
    assert.equal(utf8Length('é'), 2);
    assert.equal(utf8Length('€'), 3);
    assert.equal(utf8Length('😀'), 4);
    assert.equal(utf8Length('\ud800'), enc.encode('\ud800').length);
    assert.equal(utf8Length('a\udc00b'), enc.encode('a\udc00b').length);
  });
});

describe('HeaderMap', () => {
  test('keys are stored lower-case and looked up case-insensitively', () => {
    const m = new HeaderMap({ 'Content-Type': 'text/plain' });
    assert.equal(m.get('content-type'), 'text/plain');
    assert.equal(m.get('CONTENT-TYPE'), 'text/plain');
    assert.equal(m.has('Content-type'), true);
    assert.deepEqual(m.pairs(), [['content-type', 'text/plain']]);
  });

  test('add keeps duplicates in order; get returns the first, getAll all of them', () => {
    const m = new HeaderMap();
    m.add('Set-Cookie', 'a=1');
    m.add('x', 'y');
    m.add('set-cookie', 'b=2');
    assert.equal(m.size, 3);
    assert.equal(m.get('set-cookie'), 'a=1');
    assert.deepEqual(m.getAll('SET-COOKIE'), ['a=1', 'b=2']);
    assert.deepEqual(m.toObject(), { 'set-cookie': 'a=1, b=2', x: 'y' });
  });

  test('set replaces the first entry in place and removes the other duplicates', () => {
    const m = new HeaderMap([
      ['a', '1'],
      ['dup', 'first'],
      ['b', '2'],
      ['DUP', 'second'],
    ]);
    m.set('Dup', 'only');
    assert.deepEqual(m.pairs(), [
      ['a', '1'],
      ['dup', 'only'],
      ['b', '2'],
    ]);
  });

  test('set on a missing key appends it', () => {
    const m = new HeaderMap([['a', '1']]);
    m.set('B', '2');
    assert.deepEqual(m.pairs(), [
      ['a', '1'],
      ['b', '2'],
    ]);
  });

  test('remove drops every entry of the key, case-insensitively, and ignores missing keys', () => {
    const m = new HeaderMap([
      ['x', '1'],
      ['y', '2'],
      ['X', '3'],
    ]);
    m.remove('X');
    assert.deepEqual(m.pairs(), [['y', '2']]);
    m.remove('missing');
    assert.deepEqual(m.pairs(), [['y', '2']]);
  });

  test('replaceAll and clear', () => {
    const m = new HeaderMap({ a: '1' });
    m.replaceAll([
      ['B', '2'],
      ['c', '3'],
    ]);
    assert.deepEqual(m.pairs(), [
      ['b', '2'],
      ['c', '3'],
    ]);
    m.clear();
    assert.equal(m.size, 0);
    assert.equal(m.serializedSize(), 4);
  });

  test('serializedSize follows mutations (the cached size is invalidated)', () => {
    const m = new HeaderMap({ a: '1' });
    assert.equal(m.serializedSize(), encodePairs(m).length);
    m.add('bb', '22');
    assert.equal(m.serializedSize(), encodePairs(m).length);
    m.set('a', 'longer value');
    assert.equal(m.serializedSize(), encodePairs(m).length);
    m.remove('bb');
    assert.equal(m.serializedSize(), encodePairs(m).length);
    m.replaceAll([['ü', 'ö']]);
    assert.equal(m.serializedSize(), 4 + 8 + 2 + 1 + 2 + 1);
  });

  test('constructs from pairs, records with array values, and another HeaderMap', () => {
    const fromRecord = new HeaderMap({ a: ['1', '2'], b: '3' });
    assert.deepEqual(fromRecord.pairs(), [
      ['a', '1'],
      ['a', '2'],
      ['b', '3'],
    ]);
    const copy = new HeaderMap(fromRecord);
    copy.add('c', '4');
    assert.equal(fromRecord.size, 3, 'copying does not alias the source');
    assert.equal(copy.size, 4);
    assert.equal(HeaderMap.from(fromRecord), fromRecord, 'from() passes a HeaderMap through');
  });
});

describe('ByteBuffer.splice (proxy_set_buffer_bytes semantics)', () => {
  const buf = (s: string) => new ByteBuffer(enc.encode(s));
  const str = (b: ByteBuffer) => new TextDecoder().decode(b.bytes());

  test('start 0, size 0 prepends', () => {
    const b = buf('world');
    b.splice(0, 0, enc.encode('hello '));
    assert.equal(str(b), 'hello world');
  });

  test('start at or past the end appends (also with size_t max)', () => {
    const b = buf('abc');
    b.splice(3, 0, enc.encode('-suffix'));
    assert.equal(str(b), 'abc-suffix');
    b.splice(0xffffffff, 0xffffffff, enc.encode('!'));
    assert.equal(str(b), 'abc-suffix!');
  });

  test('start 0, size = length replaces everything', () => {
    const b = buf('hello world 1');
    b.splice(0, 13, enc.encode('HELLO WORLD 1'));
    assert.equal(str(b), 'HELLO WORLD 1');
  });

  test('replaces a middle range, growing or shrinking the buffer', () => {
    const b = buf('0123456789');
    b.splice(2, 3, enc.encode('ab'));
    assert.equal(str(b), '01ab56789');
    b.splice(1, 0, enc.encode('XYZ'));
    assert.equal(str(b), '0XYZ1ab56789');
  });

  test('a size running past the end replaces the tail', () => {
    const b = buf('abcdef');
    b.splice(4, 100, enc.encode('Z'));
    assert.equal(str(b), 'abcdZ');
  });

  test('an empty value deletes', () => {
    const b = buf('abcdef');
    b.splice(1, 2, new Uint8Array(0));
    assert.equal(str(b), 'adef');
  });

  test('slice, append and drain', () => {
    const b = buf('hello');
    assert.equal(new TextDecoder().decode(b.slice(1, 3)), 'ell');
    assert.equal(new TextDecoder().decode(b.slice(3, 100)), 'lo');
    b.append(enc.encode(' you'));
    assert.equal(b.length, 9);
    assert.equal(new TextDecoder().decode(b.drain()), 'hello you');
    assert.equal(b.length, 0);
  });
});

describe('property encodings', () => {
  test('integers encode as 8-byte little-endian int64', () => {
    assert.deepEqual([...encodeProperty(5555)], [0xb3, 0x15, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...encodeProperty(-1)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual([...encodeProperty(2n ** 40n + 1n)], [1, 0, 0, 0, 0, 1, 0, 0]);
    assert.equal(decodeInt64(encodeProperty(1_700_000_000_123_456_789n)), 1_700_000_000_123_456_789n);
    assert.equal(decodeInt64(encodeProperty(-42)), -42n);
  });

  test('non-integer numbers are truncated toward zero', () => {
    assert.equal(decodeInt64(encodeProperty(3.9)), 3n);
    assert.equal(decodeInt64(encodeProperty(-3.9)), -3n);
  });

  test('metadata (Struct) values: numbers as doubles, objects as pairs of encoded values, lists as element pairs', () => {
    const d = encodeProperty(structValue(1.5)!);
    assert.equal(new DataView(d.buffer, d.byteOffset).getFloat64(0, true), 1.5);
    assert.equal(structValue('x'), 'x');
    assert.equal(structValue(true), true);
    assert.equal(structValue(null), undefined);
    // A list: pairs of (element, "") as Envoy serializes a CelList.
    assert.deepEqual(decodePairs(structValue(['a', 'b']) as Uint8Array), [
      ['a', ''],
      ['b', ''],
    ]);
    assert.equal(structAt({ l: ['x', 'y'] }, ['l', '1'], 0), 'y', 'into a list by index');
    assert.equal(structAt({ l: ['x'] }, ['l', 'k'], 0), undefined);
    assert.ok(
      structValue({ a: 'b', l: [1] }) instanceof Uint8Array,
      'a list inside a map no longer hides it',
    );
    const nested = structValue({ a: 'b', n: 2 }) as Uint8Array;
    const dv = new DataView(nested.buffer, nested.byteOffset);
    assert.equal(dv.getUint32(0, true), 2);
    assert.deepEqual([dv.getUint32(4, true), dv.getUint32(8, true)], [1, 1]); // "a" -> "b"
    assert.deepEqual([dv.getUint32(12, true), dv.getUint32(16, true)], [1, 8]); // "n" -> a double
    const pairs = decodePairs(structValue({ a: 'b', c: 'd' }) as Uint8Array);
    assert.deepEqual(pairs, [
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });

  test('booleans encode as one byte', () => {
    assert.deepEqual([...encodeProperty(true)], [1]);
    assert.deepEqual([...encodeProperty(false)], [0]);
  });

  test('strings encode as raw UTF-8, bytes as they are', () => {
    assert.deepEqual([...encodeProperty('héllo')], [...enc.encode('héllo')]);
    const raw = Uint8Array.of(0, 1, 255);
    assert.equal(encodeProperty(raw), raw);
  });

  test('maps (HeaderMap or pairs) encode in the header-map wire format', () => {
    const m = new HeaderMap([
      ['a', '1'],
      ['b', '22'],
    ]);
    assert.deepEqual([...encodeProperty(m)], [...SPEC_EXAMPLE]);
    assert.deepEqual(
      [
        ...encodeProperty([
          ['a', '1'],
          ['b', '22'],
        ]),
      ],
      [...SPEC_EXAMPLE],
    );
  });

  test('property paths split on NUL, ignoring one trailing NUL', () => {
    assert.deepEqual(splitPropertyPath('request\0path'), ['request', 'path']);
    assert.deepEqual(splitPropertyPath('request\0headers\0x-foo\0'), ['request', 'headers', 'x-foo']);
    assert.deepEqual(splitPropertyPath('plugin_name'), ['plugin_name']);
    // A dotted name is one segment: the wire format separates with NUL, not dots.
    assert.deepEqual(splitPropertyPath('request.path'), ['request.path']);
  });
});

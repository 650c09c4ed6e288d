// Envoy's foreign functions (source/extensions/common/wasm/foreign.cc), called by a real module
// (fixtures/c/foreign_probe.c) with the argument bytes Envoy takes: verify_signature, declare_property,
// set_envoy_filter_state (protobuf messages, encoded here independently of the host's decoder),
// clear_route_cache, and the CEL expr_create / expr_evaluate / expr_delete; bad arguments included.

import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { Status } from '../src/abi/constants.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const PROBE = fixture('foreign_probe');
const hex = (b: Uint8Array | string) => Buffer.from(b).toString('hex');
const text = (h: string) => Buffer.from(h, 'hex').toString();

/** A protobuf message: [field, value] with strings and bytes length-delimited, booleans and numbers as varints. */
function proto(fields: Array<[number, string | Uint8Array | boolean | number]>): Uint8Array {
  const out: number[] = [];
  const varint = (n: number) => {
    do {
      out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>>= 7;
    } while (n > 0);
  };
  for (const [field, v] of fields) {
    if (typeof v === 'boolean' || typeof v === 'number') {
      varint(field << 3);
      varint(Number(v));
    } else {
      const bytes = typeof v === 'string' ? Buffer.from(v) : v;
      varint((field << 3) | 2);
      varint(bytes.length);
      out.push(...bytes);
    }
  }
  return Uint8Array.from(out);
}

/** Runs `script` (fixtures/README.md: foreign_probe) in a stream; each command's [status, result hex]. */
async function run(script: string[], configure: string[] = []) {
  const filter = await loadFilter({ wasm: PROBE, pluginConfig: configure.join(';') });
  const stream = filter.newStream();
  stream.sendRequestHeaders({
    ':method': 'GET',
    ':path': '/p',
    ':authority': 'a',
    'x-a': 'b',
    'x-ff-script': script.join(';'),
  });
  const outcomes = script.map((_, i) => {
    const [status, result] = String(stream.requestHeaders[`x-ff-${i}`]).split(' ');
    return [Number(status), result] as [number, string];
  });
  const configured = filter
    .logMessages('info')
    .filter((m) => m.startsWith('configure '))
    .map((m) => {
      const [status, result] = m.replace(/^configure \d+: /, '').split(' ');
      return [Number(status), result] as [number, string];
    });
  return { outcomes, configured, stream };
}

describe('verify_signature', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const message = Buffer.from('the signed text');
  const args = (o: {
    hash?: string;
    pem?: string;
    der?: Uint8Array;
    signature: Uint8Array;
    text?: Uint8Array;
  }) => {
    const fields: Array<[number, string | Uint8Array]> = [[1, o.hash ?? 'sha256']];
    if (o.der) fields.push([2, o.der]);
    fields.push([3, o.signature], [4, o.text ?? message]);
    if (o.pem) fields.push([5, o.pem]);
    return `call verify_signature ${hex(proto(fields))}`;
  };
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const ecDer = ec.publicKey.export({ type: 'spki', format: 'der' });

  test('a good signature (RSA key in PEM, EC key in DER) verifies: VerifySignatureResult{result: true}', async () => {
    const { outcomes } = await run([
      args({ pem: rsaPem, signature: sign('sha256', message, rsa.privateKey) }),
      args({ der: ecDer, hash: 'SHA384', signature: sign('sha384', message, ec.privateKey) }),
    ]);
    assert.deepEqual(outcomes, [
      [Status.Ok, hex(proto([[1, true]]))],
      [Status.Ok, hex(proto([[1, true]]))],
    ]);
  });

  test('a bad signature or an unknown hash: result false and Envoy’s error text', async () => {
    const { outcomes } = await run([
      args({
        pem: rsaPem,
        signature: sign('sha256', message, rsa.privateKey),
        text: Buffer.from('other text'),
      }),
      args({ pem: rsaPem, hash: 'md5', signature: sign('sha256', message, rsa.privateKey) }),
    ]);
    assert.deepEqual(outcomes, [
      [Status.Ok, hex(proto([[2, 'Failed to verify digest. Error code: 0']]))],
      [Status.Ok, hex(proto([[2, 'md5 is not supported.']]))],
    ]);
  });

  test('arguments Envoy refuses: BAD_ARGUMENT', async () => {
    const signature = sign('sha256', message, rsa.privateKey);
    const { outcomes } = await run([
      args({ signature }), // no key
      args({ pem: rsaPem, der: ecDer, signature }), // both keys
      args({ pem: 'not a key', signature }),
      'call verify_signature 0aff', // a field longer than the message
    ]);
    assert.deepEqual(
      outcomes.map(([s]) => s),
      [Status.BadArgument, Status.BadArgument, Status.BadArgument, Status.BadArgument],
    );
  });
});

describe('declare_property', () => {
  const declare = (name: string, readonly: boolean) =>
    `call declare_property ${hex(
      proto([
        [1, name],
        [2, readonly],
        [3, 1 /* String */],
      ]),
    )}`;

  test('a property the root context declared read-only is set once; others as often as wanted', async () => {
    const { configured, outcomes } = await run(
      [
        'set ro 7631',
        'set ro 7632',
        'get ro',
        'set rw 7631',
        'set rw 7632',
        'get rw',
        'get filter_state/wasm.ro',
      ],
      [declare('ro', true), declare('rw', false), declare('ro', false), 'call declare_property ff'],
    );
    assert.deepEqual(configured, [
      [Status.Ok, ''],
      [Status.Ok, ''],
      [Status.BadArgument, ''], // declared already: Envoy keeps the first
      [Status.BadArgument, ''], // not a DeclarePropertyArguments message
    ]);
    assert.deepEqual(outcomes, [
      [Status.Ok, ''],
      [Status.BadArgument, ''],
      [Status.Ok, hex('v1')],
      [Status.Ok, ''],
      [Status.Ok, ''],
      [Status.Ok, hex('v2')],
      [Status.Ok, hex('v1')],
    ]);
  });
});

describe('set_envoy_filter_state and clear_route_cache', () => {
  const setState = (key: string, value: string) =>
    `call set_envoy_filter_state ${hex(
      proto([
        [1, key],
        [2, value],
        [3, 1],
      ]),
    )}`;

  test('an envoy.string object is readable as filter_state.<key>; an unknown key is NOT_FOUND', async () => {
    const { outcomes, configured } = await run(
      [
        setState('envoy.string', 'tenant-a'),
        'get filter_state/envoy.string',
        setState('envoy.tcp_proxy.cluster', 'c'),
        'call set_envoy_filter_state 12',
      ],
      [setState('envoy.string', 'from the root')],
    );
    assert.deepEqual(outcomes, [
      [Status.Ok, ''],
      [Status.Ok, hex('tenant-a')],
      [Status.NotFound, ''],
      [Status.BadArgument, ''],
    ]);
    assert.deepEqual(configured, [[Status.NotFound, '']], 'a root context has no stream to keep it');
  });

  test('clear_route_cache clears the stream’s route cache', async () => {
    // Each outcome header the probe adds clears it too (a request header change, as in Envoy).
    const without = await run(['get plugin_name']);
    const withCall = await run(['call clear_route_cache ']);
    assert.deepEqual(withCall.outcomes, [[Status.Ok, '']]);
    assert.equal(withCall.stream.routeCacheCleared, without.stream.routeCacheCleared + 1);
  });
});

describe('CEL expressions: expr_create, expr_evaluate, expr_delete', () => {
  const token = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return hex(b);
  };
  const create = (expr: string) => `call expr_create ${hex(expr)}`;

  test('created in the root context, evaluated against each stream’s attributes, deleted', async () => {
    const { configured, outcomes } = await run(
      [
        `call expr_evaluate ${token(0)}`,
        `call expr_evaluate ${token(1)}`,
        'set tenant 6163',
        `call expr_evaluate ${token(2)}`,
        `call expr_evaluate ${token(3)}`,
        `call expr_delete ${token(1)}`,
        `call expr_evaluate ${token(1)}`,
      ],
      [
        create("request.headers['x-a'] + ':' + request.path + ':' + request.method"),
        create('1 + 2'),
        create("filter_state['wasm.tenant'] == b'ac' && plugin_name != ''"),
        create("{'k': 'v'}"),
      ],
    );
    assert.deepEqual(configured, [
      [Status.Ok, token(0)],
      [Status.Ok, token(1)],
      [Status.Ok, token(2)],
      [Status.Ok, token(3)],
    ]);
    const int3 = Buffer.alloc(8);
    int3.writeBigInt64LE(3n);
    assert.equal(text(outcomes[0][1]), 'b:/p:GET');
    assert.deepEqual(outcomes.slice(1), [
      [Status.Ok, hex(int3)],
      [Status.Ok, ''],
      [Status.Ok, '01'],
      // A map as get_property returns one: count, sizes, then NUL-terminated keys and values.
      [Status.Ok, hex(Buffer.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x6b, 0, 0x76, 0]))],
      [Status.Ok, ''],
      [Status.NotFound, ''],
    ]);
  });

  test('bad expressions, tokens and values: BAD_ARGUMENT, NOT_FOUND, INTERNAL_FAILURE, SERIALIZATION_FAILURE', async () => {
    const { configured, outcomes } = await run(
      [
        `call expr_evaluate ${token(0)}`, // an attribute that is not there
        `call expr_evaluate ${token(1)}`, // null cannot be serialized
        `call expr_evaluate ${token(9)}`, // no such expression
        'call expr_evaluate 0000', // a token is 4 bytes
        'call expr_delete 00',
      ],
      [create("request.headers['x-missing'] == 'a'"), create('null'), create('1 +')],
    );
    assert.deepEqual(configured, [
      [Status.Ok, token(0)],
      [Status.Ok, token(1)],
      [Status.BadArgument, ''],
    ]);
    assert.deepEqual(
      outcomes.map(([s]) => s),
      [
        Status.InternalFailure,
        Status.SerializationFailure,
        Status.NotFound,
        Status.BadArgument,
        Status.BadArgument,
      ],
    );
  });
});

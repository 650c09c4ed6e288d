// The filter-iteration state machine alone, with fake stages that return scripted statuses and a sink that
// records what reaches it: every iteration-state transition, pause and continue from each callback, local
// replies mid-stream, trailers, and end of stream in each place. The proxy and the harness both drive it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Action, DataAction } from '../src/abi/constants.js';
import { HeaderMap } from '../src/abi/header-map.js';
import {
  type DataStatus,
  FilterPipeline,
  type HeadersStatus,
  type HoldWatermark,
  IterationState,
  type PipelineSink,
  type PipelineStage,
  type TrailersStatus,
} from '../src/host/filter-pipeline.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);

class FakeStage implements PipelineStage {
  active = true;
  stopAllOnHeaders = true;
  readonly headersReturns: HeadersStatus[] = [];
  readonly bodyReturns: DataStatus[] = [];
  readonly trailersReturns: TrailersStatus[] = [];
  /** Runs inside a callback, after it is logged (what a filter does before it returns). */
  during: ((callback: 'headers' | 'body' | 'trailers') => void) | undefined;

  constructor(
    readonly name: string,
    private readonly log: string[],
  ) {}

  headers(eos: boolean): HeadersStatus {
    this.log.push(`${this.name}.headers${eos ? ' eos' : ''}`);
    this.during?.('headers');
    return this.headersReturns.shift() ?? Action.Continue;
  }

  body(size: number, eos: boolean): DataStatus {
    this.log.push(`${this.name}.body ${size}${eos ? ' eos' : ''}`);
    this.during?.('body');
    return this.bodyReturns.shift() ?? DataAction.Continue;
  }

  trailers(): TrailersStatus {
    this.log.push(`${this.name}.trailers`);
    this.during?.('trailers');
    return this.trailersReturns.shift() ?? Action.Continue;
  }
}

class RecordingSink implements PipelineSink {
  constructor(private readonly log: string[]) {}
  headers(_h: HeaderMap, eos: boolean): void {
    this.log.push(`sink.headers${eos ? ' eos' : ''}`);
  }
  data(chunk: Uint8Array, eos: boolean): void {
    this.log.push(`sink.data "${dec.decode(chunk)}"${eos ? ' eos' : ''}`);
  }
  trailers(): void {
    this.log.push('sink.trailers');
  }
}

class Watermark implements HoldWatermark {
  constructor(private readonly log: string[]) {}
  high(): void {
    this.log.push('watermark.high');
  }
  low(): void {
    this.log.push('watermark.low');
  }
}

function setup(n: number, opts: { limit?: number; watermark?: boolean; first?: number } = {}) {
  const log: string[] = [];
  const stages = Array.from({ length: n }, (_, i) => new FakeStage(`f${i}`, log));
  const pipeline = new FilterPipeline(
    stages,
    new RecordingSink(log),
    opts.limit ?? 1024,
    () => log.push('overflow'),
    opts.watermark ? new Watermark(log) : undefined,
    opts.first ?? 0,
  );
  const take = () => log.splice(0);
  return { log, stages, pipeline, take };
}

const headers = () => new HeaderMap([[':path', '/']]);
const trailers = () => new HeaderMap([['grpc-status', '0']]);

describe('filter pipeline: continue', () => {
  it('every stage continues: headers, data and trailers reach the sink in order', () => {
    const { pipeline, take } = setup(2);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    pipeline.trailers(trailers());
    assert.deepEqual(take(), [
      'f0.headers',
      'f1.headers',
      'sink.headers',
      'f0.body 2',
      'f1.body 2',
      'sink.data "ab"',
      'f0.trailers',
      'f1.trailers',
      'sink.trailers',
    ]);
    assert.equal(pipeline.iterationState(0), IterationState.Continue);
  });

  it('end of stream on the headers: no data follows them', () => {
    const { pipeline, take } = setup(2);
    pipeline.headers(headers(), true);
    assert.deepEqual(take(), ['f0.headers eos', 'f1.headers eos', 'sink.headers eos']);
  });

  it('end of stream on data, and an empty last chunk', () => {
    const { pipeline, take } = setup(1);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('x'), false);
    pipeline.data(new Uint8Array(0), true);
    assert.deepEqual(take(), [
      'f0.headers',
      'sink.headers',
      'f0.body 1',
      'sink.data "x"',
      'f0.body 0 eos',
      'sink.data "" eos',
    ]);
  });

  it('ContinueAndEndStream (2) from headers continues', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].headersReturns.push(Action.ContinueAndEndStream);
    pipeline.headers(headers(), false);
    assert.deepEqual(take(), ['f0.headers', 'f1.headers', 'sink.headers']);
  });

  it('an inactive (bypassed) stage passes everything without callbacks', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].active = false;
    pipeline.headers(headers(), false);
    pipeline.data(bytes('a'), true);
    assert.deepEqual(take(), ['f1.headers', 'sink.headers', 'f1.body 1 eos', 'sink.data "a" eos']);
  });

  it('a pipeline starting at `first` skips the stages before it', () => {
    const { pipeline, take } = setup(3, { first: 2 });
    pipeline.headers(headers(), true);
    assert.deepEqual(take(), ['f2.headers eos', 'sink.headers eos']);
    assert.equal(pipeline.bufferOf(1), undefined);
    assert.ok(pipeline.bufferOf(2));
  });
});

describe('filter pipeline: stopped on headers', () => {
  it('StopIteration stops everything (StopAllWatermark): data and trailers are held without callbacks; resume delivers them in order', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].headersReturns.push(Action.Pause);
    pipeline.headers(headers(), false);
    assert.equal(pipeline.iterationState(0), IterationState.StopAllWatermark);
    assert.equal(pipeline.holdsAll(0), true);
    pipeline.data(bytes('ab'), false);
    pipeline.data(bytes('cd'), false);
    pipeline.trailers(trailers());
    assert.deepEqual(take(), ['f0.headers']);
    assert.equal(dec.decode(pipeline.bufferOf(0)!.bytes()), 'abcd');
    pipeline.resume(0);
    assert.equal(pipeline.iterationState(0), IterationState.Continue);
    assert.deepEqual(take(), [
      'f1.headers',
      'sink.headers',
      'f0.body 4',
      'f1.body 4',
      'sink.data "abcd"',
      'f0.trailers',
      'f1.trailers',
      'sink.trailers',
    ]);
  });

  it('held end of stream: resume gives the filter the held body with end of stream', () => {
    const { pipeline, stages, take } = setup(1);
    stages[0].headersReturns.push(Action.Pause);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('z'), true);
    take();
    pipeline.resume(0);
    assert.deepEqual(take(), ['sink.headers', 'f0.body 1 eos', 'sink.data "z" eos']);
  });

  it('headers that carried end of stream: resume passes them on with it, and no empty data after', () => {
    const { pipeline, stages, take } = setup(2);
    stages[1].headersReturns.push(Action.Pause);
    pipeline.headers(headers(), true);
    take();
    pipeline.resume(1);
    assert.deepEqual(take(), ['sink.headers eos']);
  });

  it('with allow_on_headers_stop_iteration, StopIteration is StopSingleIteration: body callbacks run, and Continue from one passes the headers then the data', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].stopAllOnHeaders = false;
    stages[0].headersReturns.push(Action.Pause);
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer, DataAction.Continue);
    pipeline.headers(headers(), false);
    assert.equal(pipeline.iterationState(0), IterationState.StopSingleIteration);
    assert.equal(pipeline.holdsAll(0), false);
    pipeline.data(bytes('a'), false);
    pipeline.data(bytes('b'), true);
    assert.deepEqual(take(), [
      'f0.headers',
      'f0.body 1',
      'f0.body 2 eos',
      'f1.headers',
      'sink.headers',
      'f1.body 2 eos',
      'sink.data "ab" eos',
    ]);
  });

  it('StopAllIterationAndWatermark (4): past the limit the source is paused, and read on once the stage resumes', () => {
    const { pipeline, stages, take } = setup(1, { limit: 3, watermark: true });
    stages[0].headersReturns.push(Action.StopAllIterationAndWatermark);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('abcd'), false);
    pipeline.data(bytes('e'), false);
    assert.deepEqual(take(), ['f0.headers', 'watermark.high']);
    pipeline.resume(0);
    assert.deepEqual(take(), ['watermark.low', 'sink.headers', 'f0.body 5', 'sink.data "abcde"']);
  });

  it('a stage bypassed while holding past the limit lets the source read on (watermark low)', () => {
    const { pipeline, stages, take } = setup(2, { limit: 3, watermark: true });
    stages[0].headersReturns.push(Action.StopAllIterationAndWatermark);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('abcd'), false);
    assert.deepEqual(take(), ['f0.headers', 'watermark.high']);
    stages[0].active = false;
    pipeline.data(bytes('e'), false);
    assert.deepEqual(take(), [
      'f1.headers',
      'sink.headers',
      'watermark.low',
      'f1.body 5',
      'sink.data "abcde"',
    ]);
  });

  it('StopAllIterationAndBuffer (3) is StopAllBuffer: past the limit the stream overflows (413 / 500), watermark or not', () => {
    const { pipeline, stages, take } = setup(1, { limit: 3, watermark: true });
    stages[0].headersReturns.push(Action.StopAllIterationAndBuffer);
    pipeline.headers(headers(), false);
    assert.equal(pipeline.iterationState(0), IterationState.StopAllBuffer);
    pipeline.data(bytes('abcd'), false);
    assert.deepEqual(take(), ['f0.headers', 'overflow']);
  });

  it('without a watermark, holding past the limit is an overflow', () => {
    const { pipeline, stages, take } = setup(1, { limit: 3 });
    stages[0].headersReturns.push(Action.Pause);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('abcd'), false);
    assert.deepEqual(take(), ['f0.headers', 'overflow']);
  });

  it('a stage bypassed while stopped on headers releases them with the next data', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].headersReturns.push(Action.Pause);
    pipeline.headers(headers(), false);
    stages[0].active = false;
    pipeline.data(bytes('a'), true);
    assert.deepEqual(take(), [
      'f0.headers',
      'f1.headers',
      'sink.headers',
      'f1.body 1 eos',
      'sink.data "a" eos',
    ]);
  });
});

describe('filter pipeline: stopped on data', () => {
  it('StopIterationAndBuffer keeps the data at the stage and re-calls it with all of it; Continue passes it on', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer, DataAction.StopIterationAndWatermark);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('a'), false);
    assert.equal(pipeline.iterationState(0), IterationState.StopSingleIteration);
    pipeline.data(bytes('b'), false);
    pipeline.data(bytes('c'), true);
    assert.deepEqual(take(), [
      'f0.headers',
      'f1.headers',
      'sink.headers',
      'f0.body 1',
      'f0.body 2',
      'f0.body 3 eos',
      'f1.body 3 eos',
      'sink.data "abc" eos',
    ]);
    assert.equal(pipeline.iterationState(0), IterationState.Continue);
  });

  it('StopIterationNoBuffer drops the chunk', () => {
    const { pipeline, stages, take } = setup(1);
    stages[0].bodyReturns.push(DataAction.StopIterationNoBuffer);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('drop'), false);
    pipeline.data(bytes('keep'), true);
    assert.deepEqual(take(), [
      'f0.headers',
      'sink.headers',
      'f0.body 4',
      'f0.body 4 eos',
      'sink.data "keep" eos',
    ]);
  });

  it('buffering past the limit overflows; data streaming through is never limited', () => {
    const { pipeline, stages, take } = setup(1, { limit: 3 });
    pipeline.headers(headers(), false);
    pipeline.data(bytes('streamed'), false);
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer);
    pipeline.data(bytes('held!'), false);
    assert.deepEqual(take(), [
      'f0.headers',
      'sink.headers',
      'f0.body 8',
      'sink.data "streamed"',
      'f0.body 5',
      'overflow',
    ]);
  });

  it('resume after a body stop passes the buffered data on (not to the stage again)', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), true);
    take();
    pipeline.resume(0);
    assert.deepEqual(take(), ['f1.body 2 eos', 'sink.data "ab" eos']);
  });

  it('a stage that resumes inside its own body callback: what it held goes on once, its return is not applied again', () => {
    const { pipeline, stages, take } = setup(1);
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer, DataAction.StopIterationAndBuffer);
    let calls = 0;
    stages[0].during = (cb) => {
      if (cb === 'body' && ++calls === 2) pipeline.resume(0);
    };
    pipeline.headers(headers(), false);
    pipeline.data(bytes('a'), false);
    pipeline.data(bytes('b'), true);
    assert.deepEqual(take(), [
      'f0.headers',
      'sink.headers',
      'f0.body 1',
      'f0.body 2 eos',
      'sink.data "ab" eos',
    ]);
    assert.equal(pipeline.iterationState(0), IterationState.Continue);
  });

  it('resume on a stage that is not stopped does nothing', () => {
    const { pipeline, take } = setup(1);
    pipeline.headers(headers(), false);
    take();
    pipeline.resume(0);
    pipeline.resume(5);
    assert.deepEqual(take(), []);
  });
});

describe('filter pipeline: trailers', () => {
  it('trailers reach a stage that is buffering; Continue from them releases the held body, then the trailers', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    pipeline.trailers(trailers());
    assert.deepEqual(take(), [
      'f0.headers',
      'f1.headers',
      'sink.headers',
      'f0.body 2',
      'f0.trailers',
      'f1.body 2',
      'sink.data "ab"',
      'f1.trailers',
      'sink.trailers',
    ]);
  });

  it('StopIteration from trailers holds them (StopSingleIteration) until resume', () => {
    const { pipeline, stages, take } = setup(2);
    stages[1].trailersReturns.push(Action.Pause);
    pipeline.headers(headers(), false);
    pipeline.trailers(trailers());
    assert.equal(pipeline.iterationState(1), IterationState.StopSingleIteration);
    assert.deepEqual(take(), ['f0.headers', 'f1.headers', 'sink.headers', 'f0.trailers', 'f1.trailers']);
    pipeline.resume(1);
    assert.deepEqual(take(), ['sink.trailers']);
  });

  it('trailers held by an inactive stage that is stopped wait for it', () => {
    const { pipeline, stages, take } = setup(1);
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('x'), false);
    stages[0].active = false;
    pipeline.trailers(trailers());
    assert.deepEqual(take(), ['f0.headers', 'sink.headers', 'f0.body 1']);
    pipeline.resume(0);
    assert.deepEqual(take(), ['sink.data "x"', 'sink.trailers']);
  });
});

describe('filter pipeline: local reply and reset mid-stream', () => {
  it('a callback that answers the stream stops it: nothing more reaches the sink; its stop still stands', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].during = () => {
      pipeline.stopped = true;
    };
    stages[0].headersReturns.push(Action.Pause);
    pipeline.headers(headers(), false);
    assert.equal(pipeline.iterationState(0), IterationState.StopAllWatermark);
    pipeline.data(bytes('a'), true);
    pipeline.trailers(trailers());
    pipeline.resume(0);
    assert.deepEqual(take(), ['f0.headers']);
  });

  it('answered from a body callback: the data does not go on', () => {
    const { pipeline, stages, take } = setup(2);
    stages[1].during = (cb) => {
      if (cb === 'body') pipeline.stopped = true;
    };
    pipeline.headers(headers(), false);
    pipeline.data(bytes('a'), false);
    assert.deepEqual(take(), ['f0.headers', 'f1.headers', 'sink.headers', 'f0.body 1', 'f1.body 1']);
  });

  it('answered while a resume delivers held data: the rest stays', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].headersReturns.push(Action.Pause);
    stages[1].during = (cb) => {
      if (cb === 'headers') pipeline.stopped = true;
    };
    pipeline.headers(headers(), false);
    pipeline.data(bytes('a'), true);
    take();
    pipeline.resume(0);
    assert.deepEqual(take(), ['f1.headers']);
  });

  it('an overflow that answers the stream ends it', () => {
    const log: string[] = [];
    const stage = new FakeStage('f0', log);
    stage.bodyReturns.push(DataAction.StopIterationAndBuffer, DataAction.StopIterationAndBuffer);
    const pipeline: FilterPipeline = new FilterPipeline([stage], new RecordingSink(log), 1, () => {
      log.push('overflow');
      pipeline.stopped = true;
    });
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    pipeline.data(bytes('c'), true);
    assert.deepEqual(log, ['f0.headers', 'sink.headers', 'f0.body 2', 'overflow']);
  });
});

describe('filter pipeline: more transitions', () => {
  it('resuming a StopAllBuffer stage under the limit delivers what it held, in order', () => {
    const { pipeline, stages, take } = setup(2, { limit: 8, watermark: true });
    stages[0].headersReturns.push(Action.StopAllIterationAndBuffer);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    pipeline.data(bytes('c'), true);
    assert.deepEqual(take(), ['f0.headers']);
    pipeline.resume(0);
    assert.equal(pipeline.iterationState(0), IterationState.Continue);
    assert.deepEqual(take(), [
      'f1.headers',
      'sink.headers',
      'f0.body 3 eos',
      'f1.body 3 eos',
      'sink.data "abc" eos',
    ]);
  });

  it('trailers are held without callbacks under StopAllBuffer and follow the body on resume', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].headersReturns.push(Action.StopAllIterationAndBuffer);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    pipeline.trailers(trailers());
    assert.deepEqual(take(), ['f0.headers']);
    assert.equal(pipeline.holdsAll(0), true);
    pipeline.resume(0);
    assert.deepEqual(take(), [
      'f1.headers',
      'sink.headers',
      'f0.body 2',
      'f1.body 2',
      'sink.data "ab"',
      'f0.trailers',
      'f1.trailers',
      'sink.trailers',
    ]);
  });

  it('StopIterationNoBuffer then trailers: Continue from the trailers passes them on with no data', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].bodyReturns.push(DataAction.StopIterationNoBuffer);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('gone'), false);
    pipeline.trailers(trailers());
    assert.deepEqual(take(), [
      'f0.headers',
      'f1.headers',
      'sink.headers',
      'f0.body 4',
      'f0.trailers',
      'f1.trailers',
      'sink.trailers',
    ]);
    assert.equal(pipeline.iterationState(0), IterationState.Continue);
  });

  for (const outcome of ['a local reply', 'a reset'] as const) {
    it(`${outcome} from a trailers callback: neither the held body nor the trailers go on`, () => {
      const { pipeline, stages, take } = setup(2);
      stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer);
      stages[0].during = (cb) => {
        // Both answer the stream the same way for the pipeline: the proxy stops it.
        if (cb === 'trailers') pipeline.stopped = true;
      };
      pipeline.headers(headers(), false);
      pipeline.data(bytes('ab'), false);
      pipeline.trailers(trailers());
      pipeline.resume(0);
      assert.deepEqual(take(), ['f0.headers', 'f1.headers', 'sink.headers', 'f0.body 2', 'f0.trailers']);
    });
  }

  it('a trailers callback that answers the stream and returns StopIteration keeps its stop', () => {
    const { pipeline, stages, take } = setup(1);
    stages[0].trailersReturns.push(Action.Pause);
    stages[0].during = (cb) => {
      if (cb === 'trailers') pipeline.stopped = true;
    };
    pipeline.headers(headers(), false);
    pipeline.trailers(trailers());
    assert.equal(pipeline.iterationState(0), IterationState.StopSingleIteration);
    assert.deepEqual(take(), ['f0.headers', 'sink.headers', 'f0.trailers']);
  });

  it('a resume from inside a trailers callback passes the held body (not as end of stream), then the trailers, once', () => {
    const { pipeline, stages, take } = setup(2);
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer);
    stages[0].trailersReturns.push(Action.Pause);
    stages[0].during = (cb) => {
      if (cb === 'trailers') pipeline.resume(0);
    };
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    pipeline.trailers(trailers());
    assert.deepEqual(take(), [
      'f0.headers',
      'f1.headers',
      'sink.headers',
      'f0.body 2',
      'f0.trailers',
      'f1.body 2',
      'sink.data "ab"',
      'f1.trailers',
      'sink.trailers',
    ]);
    pipeline.resume(0);
    assert.deepEqual(take(), []);
  });

  it('resume(i) for a stage before `first` does nothing', () => {
    const { pipeline, stages, take } = setup(3, { first: 1 });
    stages[1].headersReturns.push(Action.Pause);
    pipeline.headers(headers(), false);
    assert.deepEqual(take(), ['f1.headers']);
    pipeline.resume(0);
    assert.deepEqual(take(), []);
    assert.equal(pipeline.iterationState(1), IterationState.StopAllWatermark);
    pipeline.resume(1);
    assert.deepEqual(take(), ['f2.headers', 'sink.headers']);
  });
});

describe('filter pipeline: StopIterationAndWatermark from a body callback', () => {
  it('past the limit it pauses the source instead of overflowing; Continue lets it read on', () => {
    const { pipeline, stages, take } = setup(2, { limit: 3, watermark: true });
    stages[0].bodyReturns.push(DataAction.StopIterationAndWatermark, DataAction.StopIterationAndWatermark);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    pipeline.data(bytes('cd'), false);
    assert.equal(pipeline.iterationState(0), IterationState.StopSingleIteration);
    assert.deepEqual(take(), [
      'f0.headers',
      'f1.headers',
      'sink.headers',
      'f0.body 2',
      'f0.body 4',
      'watermark.high',
    ]);
    pipeline.data(bytes('e'), true);
    assert.deepEqual(take(), ['f0.body 5 eos', 'watermark.low', 'f1.body 5 eos', 'sink.data "abcde" eos']);
  });

  it('resume lets the source read on', () => {
    const { pipeline, stages, take } = setup(1, { limit: 1, watermark: true });
    stages[0].bodyReturns.push(DataAction.StopIterationAndWatermark);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    assert.deepEqual(take(), ['f0.headers', 'sink.headers', 'f0.body 2', 'watermark.high']);
    pipeline.resume(0);
    assert.deepEqual(take(), ['watermark.low', 'sink.data "ab"']);
  });

  it('StopIterationAndBuffer past the limit still overflows', () => {
    const { pipeline, stages, take } = setup(1, { limit: 1, watermark: true });
    stages[0].bodyReturns.push(DataAction.StopIterationAndBuffer);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    assert.deepEqual(take(), ['f0.headers', 'sink.headers', 'f0.body 2', 'overflow']);
  });

  it('without a watermark it overflows', () => {
    const { pipeline, stages, take } = setup(1, { limit: 1 });
    stages[0].bodyReturns.push(DataAction.StopIterationAndWatermark);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('ab'), false);
    assert.deepEqual(take(), ['f0.headers', 'sink.headers', 'f0.body 2', 'overflow']);
  });
});

describe('filter pipeline: several stages holding past the limit', () => {
  it('the watermark goes low only once neither stage holds past the limit', () => {
    const { pipeline, stages, take } = setup(2, { limit: 3, watermark: true });
    stages[1].headersReturns.push(Action.StopAllIterationAndWatermark);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('abcd'), false);
    assert.deepEqual(take(), ['f0.headers', 'f1.headers', 'f0.body 4', 'watermark.high']);
    stages[0].bodyReturns.push(DataAction.StopIterationAndWatermark);
    pipeline.data(bytes('efgh'), false);
    assert.deepEqual(take(), ['f0.body 4']);
    pipeline.resume(1);
    assert.deepEqual(take(), ['sink.headers', 'f1.body 4', 'sink.data "abcd"']);
    pipeline.resume(0);
    assert.deepEqual(take(), ['watermark.low', 'f1.body 4', 'sink.data "efgh"']);
  });

  it('a stage that lets go while the next one takes over past the limit leaves the source paused', () => {
    const { pipeline, stages, take } = setup(2, { limit: 3, watermark: true });
    stages[0].headersReturns.push(Action.StopAllIterationAndWatermark);
    stages[1].headersReturns.push(Action.StopAllIterationAndWatermark);
    pipeline.headers(headers(), false);
    pipeline.data(bytes('abcd'), false);
    assert.deepEqual(take(), ['f0.headers', 'watermark.high']);
    pipeline.resume(0);
    const events = take().filter((e) => e.startsWith('watermark'));
    assert.equal(events.at(-1), 'watermark.high', `paused at the end: ${events.join(', ')}`);
    pipeline.resume(1);
    assert.deepEqual(take(), ['watermark.low', 'sink.headers', 'f1.body 4', 'sink.data "abcd"']);
  });
});

// Every content mode in, every encoding out: 2,000 events each posted in binary, structured and
// batched mode reach the sink exactly once, valid per the official SDK, with attributes,
// extensions and data intact, and in the encoding the processor is configured for.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventData, postEvents, startStack, vcenterEvent } from './lib.mjs';

const PER_MODE = 2000;

function makeEvents(mode, encoding) {
  return Array.from({ length: PER_MODE }, (_, i) =>
    vcenterEvent(i, {
      id: `${encoding}-${mode}-${i}`,
      extensions: { vsphereapiversion: '8.0.2.0', testrun: `${encoding}-${mode}`, eventclass: 'event' },
    }));
}

function assertArrivedIntact(sink, sent) {
  for (const expected of sent) {
    const got = sink.byId.get(expected.id);
    assert.ok(got, `event ${expected.id} did not arrive`);
    assert.equal(got.specversion, '1.0');
    assert.equal(got.type, expected.type);
    assert.equal(got.source, expected.source);
    assert.equal(got.subject, expected.subject);
    assert.equal(new Date(got.time).getTime(), new Date(expected.time).getTime(), `time of ${expected.id}`);
    assert.match(got.datacontenttype ?? '', /^application\/json/);
    for (const ext of ['vsphereapiversion', 'testrun', 'eventclass']) {
      assert.equal(got[ext], expected[ext], `extension ${ext} of ${expected.id}`);
    }
    assert.deepEqual(eventData(got), expected.data, `data of ${expected.id}`);
  }
}

for (const encoding of ['binary', 'structured']) {
  describe(`knative processor in ${encoding} encoding`, () => {
    let stack;
    before(async () => {
      stack = await startStack({ encoding });
    });
    after(async () => {
      await stack?.cleanup();
    });

    for (const mode of ['binary', 'structured', 'batch']) {
      test(`${PER_MODE} events posted in ${mode} mode arrive exactly once, intact`, async () => {
        const { sink } = stack;
        const before = sink.byId.size;
        const sent = makeEvents(mode, encoding);
        const responses = await postEvents(stack.webhookUrl, sent, { mode, batchSize: 50, concurrency: 16 });
        const refused = responses.filter((r) => r.status !== 202);
        assert.equal(refused.length, 0, `webhook refused: ${JSON.stringify(refused.slice(0, 3))}`);
        assert.equal(responses.length, mode === 'batch' ? PER_MODE / 50 : PER_MODE);

        await sink.waitForCount(before + PER_MODE, 60_000);
        // Let stragglers (duplicates) land before counting them.
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(sink.counters.invalid, 0, `sink got invalid CloudEvents: ${JSON.stringify(sink.invalid[0])}`);
        assert.equal(sink.counters.duplicates, 0, 'some events arrived more than once');
        assertArrivedIntact(sink, sent);
        // The router re-encodes in its configured mode whatever the incoming mode was.
        assert.deepEqual([...sink.modes.keys()], [encoding]);
      });
    }
  });
}

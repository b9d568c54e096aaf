/*
 * abort.test.js - stop(), an AbortSignal and a break end inboxd.js's
 * receive loop at once, whether a GET is held or the loop is backing off,
 * and what a loop left unacknowledged the next one gets, once.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import test from 'node:test';

import { Inbox } from '../inboxd.js';
import { collect, startInboxd, unique, until } from './harness.js';

const AT_ONCE = 200;	/* ms: "at once", on a loaded machine */

function peer(url, name, opts) {
	return new Inbox(Object.assign({ url, user: unique(name),
	    password: 'pw-' + name }, opts));
}

/* Resolves once inboxd holds a GET of alice (its metrics say so). */
async function held(d) {
	await until(async () => /^inboxd_waiters 1$/m.test(await (await
	    fetch(d.url + '/metrics')).text()), 5000, 'a held GET');
}

test('stop() ends a loop whose GET is held, at once', async (t) => {
	const d = await startInboxd(t);
	const alice = peer(d.url, 'alice');
	const c = collect(alice, { wait: 30 });

	await held(d);
	const started = Date.now();
	alice.stop();
	await c.done;
	const took = Date.now() - started;
	assert.equal(c.error, null);
	assert.ok(took < AT_ONCE, 'ended after ' + took + ' ms');
	/* inboxd sees the hang-up and holds nothing. */
	await until(async () => /^inboxd_waiters 0$/m.test(await (await
	    fetch(d.url + '/metrics')).text()), 5000, 'no held GET');
});

test('an AbortSignal ends a loop whose GET is held, at once',
    async (t) => {
	const d = await startInboxd(t);
	const alice = peer(d.url, 'alice');
	const ctl = new AbortController();
	const c = collect(alice, { wait: 30, signal: ctl.signal });

	await held(d);
	const started = Date.now();
	ctl.abort();
	await c.done;
	assert.equal(c.error, null);
	assert.ok(Date.now() - started < AT_ONCE);
});

test('stop() ends a loop that is backing off, at once', async (t) => {
	/* A port nothing listens on: every GET fails. */
	const s = net.createServer();
	await new Promise((r) => s.listen(0, '127.0.0.1', r));
	const port = s.address().port;
	await new Promise((r) => s.close(r));
	const retries = [];
	const alice = new Inbox({ url: 'http://127.0.0.1:' + port,
	    user: 'alice', password: 'x', backoffBase: 5000,
	    backoffCap: 5000, onRetry: (i) => retries.push(i) });
	const c = collect(alice, { wait: 30 });

	await until(() => retries.length === 1, 5000, 'a failed GET');
	const started = Date.now();
	alice.stop();
	await c.done;
	assert.ok(Date.now() - started < AT_ONCE);
	assert.equal(c.error, null);
});

test('stop() aborts a send that waits to retry', async (t) => {
	const d = await startInboxd(t, ['max-messages 1']);
	const alice = peer(d.url, 'alice');
	const retries = [];
	const bob = peer(d.url, 'bob', { onRetry: (i) => retries.push(i) });

	await alice.pin();
	await bob.send(alice.user, 'fills it');
	const p = bob.send(alice.user, 'waits');
	await until(() => retries.length === 1, 5000, 'the retry');
	const started = Date.now();
	bob.stop();
	await assert.rejects(p, (e) => e.name === 'AbortError');
	assert.ok(Date.now() - started < AT_ONCE);
});

test('a break mid-batch: the next loop gets the rest, once each',
    async (t) => {
	const d = await startInboxd(t);
	const alice = peer(d.url, 'alice');
	const bob = peer(d.url, 'bob');
	const sent = [];

	await alice.pin();
	for (let i = 0; i < 10; i++) {
		sent.push('m' + i);
		await bob.send(alice.user, 'm' + i);
	}
	const got = [];
	for await (const m of alice.messages({ wait: 5 })) {
		got.push(m.body);
		if (got.length === 4)
			break;
	}
	/* Six are left, in flight or queued: a new loop acknowledges the
	 * four and gets the six. */
	const c = collect(alice, { wait: 5 });
	t.after(() => alice.stop());
	await until(() => c.got.length === 6, 5000, () => 'six more, got ' +
	    c.got.length);
	assert.deepEqual(got.concat(c.got.map((m) => m.body)), sent);
	alice.stop();
	await c.done;
});

test('a new loop stops the last one', async (t) => {
	const d = await startInboxd(t);
	const alice = peer(d.url, 'alice');
	const first = collect(alice, { wait: 30 });

	await held(d);
	const second = collect(alice, { wait: 30 });
	await first.done;
	assert.equal(first.error, null);
	alice.stop();
	await second.done;
});

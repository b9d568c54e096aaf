/*
 * retry.test.js - how inboxd.js waits: Retry-After on 503 and 429, from
 * the real inboxd and from a proxy that answers for it; backoff with
 * full jitter against an inboxd that stops and starts again on the same
 * port, and no message taken for a duplicate after the restart.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import test from 'node:test';

import { Inbox, InboxdError } from '../inboxd.js';
import { collect, startInboxd, startProxy, unique, until } from
    './harness.js';

function peer(url, name, opts) {
	return new Inbox(Object.assign({ url, user: unique(name),
	    password: 'pw-' + name }, opts));
}

test('a send to a full inbox waits out Retry-After, then goes through',
    async (t) => {
	const d = await startInboxd(t, ['max-messages 1']);
	const retries = [];
	const alice = peer(d.url, 'alice');
	const bob = peer(d.url, 'bob', { onRetry: (i) => retries.push(i) });

	await alice.pin();
	await bob.send(alice.user, 'first');
	/* The inbox is full: 503 inbox_full, Retry-After: 1. */
	const started = Date.now();
	const second = bob.send(alice.user, 'second');
	await until(() => retries.length === 1, 5000, 'a retry of the send');
	assert.equal(retries[0].status, 503);
	assert.equal(retries[0].error.code, 'inbox_full');
	assert.equal(retries[0].error.retryAfter, 1);
	assert.equal(retries[0].delay, 1000);
	/* alice takes the first (and acknowledges it by asking again). */
	const c = collect(alice, { wait: 5 });
	t.after(() => alice.stop());
	await second;
	const took = Date.now() - started;
	assert.ok(took >= 1000, 'the second send waited ' + took + ' ms');
	await until(() => c.got.length === 2, 5000, 'both messages');
	assert.deepEqual(c.got.map((m) => m.body), ['first', 'second']);
	t.diagnostic('503 inbox_full: the send went through after ' + took +
	    ' ms and ' + retries.length + ' retry (Retry-After: 1)');
	alice.stop();
	await c.done;
});

test('a 429 with a Retry-After past retryFor is thrown at once, with it',
    async (t) => {
	const d = await startInboxd(t, ['auth-failures-per-minute 1']);
	const alice = peer(d.url, 'alice');

	await alice.pin();
	const thief = new Inbox({ url: d.url, user: alice.user,
	    password: 'wrong' });
	await assert.rejects(thief.pin(), (e) => e.status === 401);
	const started = Date.now();
	await assert.rejects(alice.pin(), (e) => e instanceof InboxdError &&
	    e.status === 429 && e.code === 'too_many_requests' &&
	    e.retryAfter > 1 && e.retryAfter <= 60);
	assert.ok(Date.now() - started < 1000, 'thrown at once');
});

test('the receive loop waits out Retry-After of a 429 and a 503',
    async (t) => {
	const d = await startInboxd(t);
	const answers = [
	    'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n' +
	    'Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
	    'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n' +
	    'Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'];
	let asked = 0;
	const p = await startProxy(t, d.port, null, (line) =>
	    line.startsWith('GET /inbox') && asked < 2 ? answers[asked++] :
	    undefined);
	const retries = [];
	const alice = peer(p.url, 'alice', { onRetry: (i) => retries.push(
	    Object.assign({ at: Date.now() }, i)) });
	const bob = peer(d.url, 'bob');

	await alice.pin();
	await bob.send(alice.user, 'after the wait');
	const started = Date.now();
	const c = collect(alice, { wait: 5 });
	t.after(() => alice.stop());
	await until(() => c.got.length === 1, 5000, 'the message');
	const took = Date.now() - started;
	assert.deepEqual(retries.map((r) => [r.status, r.delay]),
	    [[429, 1000], [503, 1000]]);
	assert.ok(took >= 2000, 'received after ' + took + ' ms');
	assert.equal(c.got[0].body, 'after the wait');
	t.diagnostic('429 then 503, each with Retry-After: 1: the message ' +
	    'came after ' + took + ' ms');
	alice.stop();
	await c.done;
});

test('the loop backs off while inboxd is down, and loses nothing when ' +
    'it restarts', async (t) => {
	const d = await startInboxd(t);
	const retries = [];
	const alice = peer(d.url, 'alice', { onRetry: (i) => retries.push(i),
	    backoffBase: 50, backoffCap: 400 });
	const bob = peer(d.url, 'bob');
	const c = collect(alice, { wait: 5 });
	t.after(() => alice.stop());
	/* alice's inbox exists on the new process once she polled it. */
	const sendAll = async (words) => {
		for (const w of words)
			await until(() => bob.send(alice.user, w).then(() => true,
			    (e) => { if (e.status !== 404) throw e; }), 5000,
			    'alice\'s inbox for ' + w);
	};

	await sendAll(['one', 'two', 'three']);
	await until(() => c.got.length === 3, 5000, 'three messages');
	const before = c.got.map((m) => m.id);
	await d.stop();
	await until(() => retries.length >= 4, 5000, 'four retries');
	/* Full jitter: each wait at most base * 2^attempt, capped. */
	for (const r of retries) {
		assert.equal(r.status, 0);
		assert.ok(r.delay <= Math.min(400, 50 * 2 ** (r.attempt - 1)),
		    'delay ' + r.delay + ' of attempt ' + r.attempt);
	}
	await d.start();
	await sendAll(['four', 'five', 'six']);
	await until(() => c.got.length === 6, 5000, () => 'six messages, got ' +
	    c.got.map((m) => m.body).join(' '));
	assert.deepEqual(c.got.map((m) => m.body),
	    ['one', 'two', 'three', 'four', 'five', 'six']);
	t.diagnostic('inboxd down for ' + retries.length + ' retries; ids ' +
	    'before ' + before.join(' ') + ', after ' +
	    c.got.slice(3).map((m) => m.id).join(' '));
	alice.stop();
	await c.done;
	assert.equal(c.error, null);
});

test('a restart while the application holds a message drops nothing',
    async (t) => {
	const d = await startInboxd(t);
	const alice = peer(d.url, 'alice', { backoffBase: 50,
	    backoffCap: 400 });
	const bob = peer(d.url, 'bob');

	await alice.pin();
	await bob.send(alice.user, 'before');
	const it = alice.messages({ wait: 5 });
	t.after(() => alice.stop());
	const first = await it.next();
	assert.equal(first.value.body, 'before');
	/* No request is out now: the restart is invisible to the loop. */
	await d.stop();
	await d.start();
	const next = it.next();
	await until(() => bob.send(alice.user, 'after').then(() => true,
	    (e) => { if (e.status !== 404) throw e; }), 5000,
	    'alice\'s new inbox');
	const second = await next;
	assert.equal(second.value.body, 'after');
	assert.notEqual(second.value.id, first.value.id);
	await it.return();
});

/*
 * An inboxd from before batches: single messages only, and ids that
 * start again at 1 when it restarts.  The loop must not drop the new
 * message 1 as a copy of the old one.
 */
test('an older inboxd that reuses ids after a restart: nothing dropped',
    async (t) => {
	let body = 'old one';
	let served = false;
	const fake = http.createServer((req, res) => {
		if (served) {
			/* hold the poll, as inboxd would */
			setTimeout(() => { res.writeHead(204); res.end(); }, 200);
			return;
		}
		served = true;
		res.writeHead(200, { 'X-From': 'bob', 'X-Message-Id': '1',
		    'Content-Type': 'text/plain' });
		res.end(body);
	});
	await new Promise((r) => fake.listen(0, '127.0.0.1', r));
	const port = fake.address().port;
	t.after(() => fake.close());
	const alice = new Inbox({ url: 'http://127.0.0.1:' + port,
	    user: 'alice', password: 'x', backoffBase: 20, backoffCap: 100 });
	const c = collect(alice, { wait: 1 });
	t.after(() => alice.stop());

	await until(() => c.got.length === 1, 5000, 'the old message');
	/* "Restart": same id, another message. */
	body = 'new one';
	served = false;
	await until(() => c.got.length === 2, 5000, 'the new message');
	assert.deepEqual(c.got.map((m) => [m.id, m.body]),
	    [[1, 'old one'], [1, 'new one']]);
	alice.stop();
	await c.done;
});

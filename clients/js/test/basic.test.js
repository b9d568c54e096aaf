/*
 * basic.test.js - inboxd.js against the real inboxd: sending and
 * receiving, FIFO order, binary bodies, UTF-8 names and passwords, a
 * wrong password, PINs and /ice.
 */

import assert from 'node:assert/strict';
import test from 'node:test';

import { Inbox, InboxdError, basicAuth, isTextType } from '../inboxd.js';
import { collect, startInboxd, unique, until } from './harness.js';

function pair(url, opts = {}) {
	return {
		alice: new Inbox(Object.assign({ url, user: unique('alice'),
		    password: 'a-secret' }, opts)),
		bob: new Inbox(Object.assign({ url, user: unique('bob'),
		    password: 'b-secret' }, opts)),
	};
}

test('a message sent is received with its sender, type and id',
    async (t) => {
	const d = await startInboxd(t);
	const { alice, bob } = pair(d.url);
	const c = collect(alice, { wait: 5 });

	t.after(() => alice.stop());
	/* alice's first GET creates her inbox; bob's send then finds it. */
	await until(() => bob.send(alice.user, 'hello alice').then(() => true,
	    (e) => { if (e.status !== 404) throw e; }), 5000,
	    'alice\'s inbox');
	await until(() => c.got.length === 1, 5000, 'the message');
	const m = c.got[0];
	assert.equal(m.from, bob.user);
	assert.equal(m.body, 'hello alice');
	assert.match(m.type, /^text\/plain/);
	assert.ok(Number.isSafeInteger(m.id) && m.id > 0, 'id ' + m.id);
	assert.equal(m.room, null);
	assert.equal(m.event, null);
	await bob.send(alice.user, { type: 'offer', sdp: 'v=0' });
	await until(() => c.got.length === 2, 5000, 'the JSON message');
	assert.equal(c.got[1].type, 'application/json');
	assert.deepEqual(JSON.parse(c.got[1].body),
	    { type: 'offer', sdp: 'v=0' });
	assert.notEqual(c.got[1].id, m.id);
	alice.stop();
	await c.done;
	assert.equal(c.error, null);
});

test('messages arrive in the order they were sent, queued or held',
    async (t) => {
	const d = await startInboxd(t);
	const { alice, bob } = pair(d.url);
	const sent = [];

	/* Twenty queued before the loop starts, twenty while it runs. */
	await alice.pin();	/* a first contact: alice's inbox exists */
	for (let i = 0; i < 20; i++) {
		sent.push('queued ' + i);
		await bob.send(alice.user, 'queued ' + i);
	}
	const c = collect(alice, { wait: 5 });
	t.after(() => alice.stop());
	for (let i = 0; i < 20; i++) {
		sent.push('live ' + i);
		await bob.send(alice.user, 'live ' + i);
	}
	await until(() => c.got.length >= sent.length, 5000,
	    () => 'forty messages, got ' + c.got.length);
	assert.deepEqual(c.got.map((m) => m.body), sent);
	const ids = c.got.map((m) => m.id);
	assert.equal(new Set(ids).size, ids.length, 'ids are unique');
	alice.stop();
	await c.done;
});

test('binary bodies come as bytes, text ones as strings', async (t) => {
	const d = await startInboxd(t);
	const { alice, bob } = pair(d.url);
	const random = new Uint8Array(1000).map((_, i) => (i * 131 + 7) % 256);
	const utf8ish = new TextEncoder().encode('plain ascii, but octets');
	const badText = new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0x00]);

	await alice.pin();
	await bob.send(alice.user, random);
	await bob.send(alice.user, utf8ish);
	await bob.send(alice.user, badText, { type: 'text/plain' });
	await bob.send(alice.user, 'z\u00fc\u0300rich \u{1f600}',
	    { type: 'text/plain; charset=utf-8' });
	await bob.send(alice.user, random.buffer, { type: 'image/png' });
	const c = collect(alice, { wait: 5 });
	t.after(() => alice.stop());
	await until(() => c.got.length === 5, 5000, 'five messages');
	const [a, b, bad, text, png] = c.got;
	assert.ok(a.body instanceof Uint8Array);
	assert.equal(a.type, 'application/octet-stream');
	assert.deepEqual(a.body, random);
	/* The type decides: octets that happen to be UTF-8 stay bytes. */
	assert.ok(b.body instanceof Uint8Array);
	assert.deepEqual(b.body, utf8ish);
	/* A text type whose bytes are not UTF-8: bytes, as they were. */
	assert.ok(bad.body instanceof Uint8Array);
	assert.deepEqual(bad.body, badText);
	assert.equal(text.body, 'z\u00fc\u0300rich \u{1f600}');
	assert.equal(png.type, 'image/png');
	assert.deepEqual(png.body, random);
	alice.stop();
	await c.done;
});

test('isTextType names text, JSON, SDP and charset types', () => {
	for (const t of ['text/plain', 'application/json',
	    'application/sdp', 'application/ld+json', 'image/svg+xml',
	    'application/x-www-form-urlencoded', 'x/y; charset=utf-8'])
		assert.ok(isTextType(t), t);
	for (const t of [null, '', 'application/octet-stream', 'image/png',
	    'application/wasm'])
		assert.ok(!isTextType(t), String(t));
});

test('UTF-8 names and passwords work both ways', async (t) => {
	const d = await startInboxd(t);
	const alice = new Inbox({ url: d.url,
	    user: unique('Zo\u00eb@\u4f8b\u3048/+=\u{1f511}'),
	    password: 'p\u00e4ssw\u00f6rd \u{1f510} \u0434\u0430' });
	const bob = new Inbox({ url: d.url, user: unique('b\u00f8b %2B&?'),
	    password: '\u00df' });

	assert.throws(() => basicAuth('a:b', 'x'), TypeError);
	await alice.pin();
	await bob.pin();
	await bob.send(alice.user, 'to you');
	await alice.send(bob.user, 'and back');
	const ca = collect(alice, { wait: 5 });
	const cb = collect(bob, { wait: 5 });
	t.after(() => {
		alice.stop();
		bob.stop();
	});
	await until(() => ca.got.length === 1 && cb.got.length === 1, 5000,
	    'one message each');
	assert.equal(ca.got[0].from, bob.user);
	assert.equal(cb.got[0].from, alice.user);
	/* The same name with another password is someone else: 401. */
	const impostor = new Inbox({ url: d.url, user: alice.user,
	    password: 'wrong' });
	await assert.rejects(impostor.pin(), (e) => e instanceof InboxdError &&
	    e.status === 401 && e.code === 'unauthorized');
	alice.stop();
	bob.stop();
	await Promise.all([ca.done, cb.done]);
});

test('a wrong password ends the receive loop with a 401', async (t) => {
	const d = await startInboxd(t);
	const owner = new Inbox({ url: d.url, user: unique('owner'),
	    password: 'right' });

	await owner.pin();
	const thief = new Inbox({ url: d.url, user: owner.user,
	    password: 'wrong' });
	const c = collect(thief, { wait: 5 });
	await c.done;
	assert.ok(c.error instanceof InboxdError, String(c.error));
	assert.equal(c.error.status, 401);
	assert.equal(c.got.length, 0);
});

test('a PIN reaches its inbox once, and names it', async (t) => {
	const d = await startInboxd(t);
	const { alice, bob } = pair(d.url);
	const { pin, expiresIn } = await alice.pin();

	assert.match(pin, /^[0-9]{6}$/);
	assert.ok(expiresIn > 0);
	const c = collect(alice, { wait: 5 });
	t.after(() => alice.stop());
	assert.equal(await bob.sendByPin(pin, { type: 'hello' }), alice.user);
	await until(() => c.got.length === 1, 5000, 'the hello');
	assert.equal(c.got[0].from, bob.user);
	assert.deepEqual(JSON.parse(c.got[0].body), { type: 'hello' });
	/* Used up: a second try is an unknown PIN. */
	await assert.rejects(bob.sendByPin(pin, 'again'), (e) =>
	    e instanceof InboxdError && e.status === 404);
	alice.stop();
	await c.done;
});

test('iceServers() is [] where inboxd has no /ice', async (t) => {
	const d = await startInboxd(t);
	const { alice } = pair(d.url);
	const list = await alice.iceServers();

	assert.ok(Array.isArray(list));
});

test('a send to no inbox is a 404, a body too large a 413', async (t) => {
	const d = await startInboxd(t, ['max-message-size 1K']);
	const { alice, bob } = pair(d.url);

	await alice.pin();
	await assert.rejects(bob.send(unique('nobody'), 'x'), (e) =>
	    e.status === 404 && e.code === 'not_found');
	await assert.rejects(bob.send(alice.user, new Uint8Array(2048)), (e) =>
	    e.status === 413 && e.code === 'payload_too_large');
});

/*
 * rooms.test.js - inboxd.js's rooms against the real inboxd: create,
 * join, who is here, fan-out, invitations, leaving, closing, and the
 * events each brings.
 */

import assert from 'node:assert/strict';
import test from 'node:test';

import { Inbox, InboxdError } from '../inboxd.js';
import { collect, startInboxd, unique, until } from './harness.js';

function peer(url, name) {
	return new Inbox({ url, user: unique(name), password: 'pw-' + name });
}

/* The events in c from room so far, as [event, peer, reason]. */
function events(c, room) {
	return c.got.filter((m) => m.event !== null && m.room === room)
	    .map((m) => {
		const j = JSON.parse(m.body);
		return [m.event, j.peer, j.reason];
	    });
}

test('a room: create, join, members, fan-out, leave, close, and events',
    async (t) => {
	const d = await startInboxd(t);
	const alice = peer(d.url, 'alice');
	const bob = peer(d.url, 'bob');
	const carol = peer(d.url, 'carol');
	const r = await alice.createRoom();

	assert.equal(typeof r.room, 'string');
	assert.equal(typeof r.token, 'string');
	assert.ok(r.expiresIn > 0);
	assert.deepEqual(r.members, [alice.user]);
	assert.deepEqual(alice.rooms, [r.room]);
	const ca = collect(alice, { wait: 5 });
	const cb = collect(bob, { wait: 5 });
	t.after(() => [alice, bob, carol].forEach((p) => p.stop()));

	/* A wrong token is 403; the right one lets bob in. */
	await assert.rejects(bob.join(r.room, 'not the token'), (e) =>
	    e instanceof InboxdError && e.status === 403);
	const j = await bob.join(r.room, r.token);
	assert.deepEqual(j.members, [alice.user, bob.user]);
	await until(() => events(ca, r.room).length === 1, 5000,
	    'alice hears that bob joined');
	const joined = ca.got.find((m) => m.event === 'joined');
	assert.equal(joined.from, bob.user);
	assert.equal(joined.type, 'application/json');
	assert.deepEqual(JSON.parse(joined.body).members,
	    [alice.user, bob.user]);
	assert.deepEqual((await alice.members(r.room)).members,
	    [alice.user, bob.user]);
	await assert.rejects(carol.members(r.room), (e) => e.status === 403);

	/* A message to the room: every other member gets a copy. */
	const fan = await alice.sendToRoom(r.room, { type: 'ping' });
	assert.deepEqual(fan, { delivered: [bob.user], failed: {} });
	await until(() => cb.got.some((m) => m.room === r.room &&
	    m.event === null), 5000, 'bob\'s copy');
	const copy = cb.got.find((m) => m.room === r.room && m.event === null);
	assert.equal(copy.from, alice.user);
	assert.deepEqual(JSON.parse(copy.body), { type: 'ping' });

	/* An invitation: carol joins without the token. */
	await carol.pin();
	const cc = collect(carol, { wait: 5 });
	await alice.invite(r.room, carol.user);
	await until(() => events(cc, r.room).length === 1, 5000,
	    'carol\'s invitation');
	assert.deepEqual(events(cc, r.room)[0], ['invited', carol.user, null]);
	assert.equal(cc.got[0].from, alice.user);
	await carol.join(r.room);
	await until(() => events(cb, r.room).length === 1, 5000,
	    'bob hears that carol joined');
	assert.deepEqual(events(cb, r.room)[0], ['joined', carol.user, null]);

	/* carol leaves; then alice closes the room. */
	await carol.leave(r.room);
	assert.deepEqual(carol.rooms, []);
	await until(() => events(cb, r.room).length === 2, 5000,
	    'bob hears that carol left');
	assert.deepEqual(events(cb, r.room)[1], ['left', carol.user, 'left']);
	await alice.close(r.room);
	await until(() => events(cb, r.room).length === 3, 5000,
	    'bob hears that the room closed');
	assert.deepEqual(events(cb, r.room)[2], ['closed', alice.user,
	    'closed']);
	await assert.rejects(bob.members(r.room), (e) => e.status === 404);
	assert.deepEqual(events(ca, r.room), [['joined', bob.user, null],
	    ['joined', carol.user, null], ['left', carol.user, 'left']]);
	for (const p of [alice, bob, carol])
		p.stop();
	await Promise.all([ca.done, cb.done, cc.done]);
	for (const c of [ca, cb, cc])
		assert.equal(c.error, null);
});

test('a named room with a password, a creator who removes a member',
    async (t) => {
	const d = await startInboxd(t);
	const alice = peer(d.url, 'alice');
	const bob = peer(d.url, 'bob');
	const name = unique('standup \u00e9quipe');
	const r = await alice.createRoom({ name, password: 'open s\u00e9same',
	    maxMembers: 2, ttl: 600 });

	assert.equal(r.room, name);
	assert.equal(r.token, null);
	assert.ok(r.expiresIn <= 600);
	await assert.rejects(alice.createRoom({ name }), (e) =>
	    e.status === 409 && e.code === 'conflict');
	await bob.join(name, 'open s\u00e9same');
	const cb = collect(bob, { wait: 5 });
	t.after(() => bob.stop());
	const carol = peer(d.url, 'carol');
	await assert.rejects(carol.join(name, 'open s\u00e9same'), (e) =>
	    e.status === 409 && e.code === 'room_full');
	await alice.leave(name, bob.user);
	await until(() => events(cb, name).length === 1, 5000,
	    'bob hears he was removed');
	assert.deepEqual(events(cb, name)[0], ['left', bob.user, 'removed']);
	bob.stop();
	await cb.done;
});

/*
 * loss.test.js - no message lost or given twice when responses are lost
 * on their way.  A proxy between inboxd.js and the real inboxd reads
 * every response of inboxd whole, so inboxd has handed it to its socket,
 * and then for every other 200 to a GET /inbox:
 *   early    relays the head and half the body, and cuts the connection
 *   after    relays all of it and resets the client's socket at once
 *   swallow  relays nothing and cuts the connection
 *   replay   relays it, and answers the next GET with it again
 * Every message must reach the application exactly once, in order.  For
 * comparison the same run is made with the README's plain loop (GET
 * /inbox?wait= without ack=), whose losses are printed, not asserted.
 */

import assert from 'node:assert/strict';
import test from 'node:test';

import { Inbox, basicAuth } from '../inboxd.js';
import { startInboxd, startProxy, unique, until } from './harness.js';

const N = 30;		/* messages, sent in bursts of 3 */

/* Every other 200 to a GET /inbox gets mode; the rest pass. */
function everyOther(mode) {
	let n = 0;

	return (r) => r.status === 200 && r.request.startsWith('GET /inbox') &&
	    n++ % 2 === 0 ? mode : 'pass';
}

/*
 * Send N messages, one after the other, in bursts of three: between
 * bursts, until the proxy saw another response, so that there are many
 * responses to cut.
 */
async function sendAll(bob, to, stats) {
	const sent = [];

	for (let i = 0; i < N; i++) {
		/* The response that carries the burst's last comes after. */
		const seen = stats.responses;

		sent.push('msg ' + i);
		await bob.send(to, 'msg ' + i);
		if (i % 3 === 2)
			await until(() => stats.responses > seen, 5000,
			    'a response after msg ' + i);
	}
	return sent;
}

/* The lost and the duplicated among got, of sent. */
function tally(sent, got) {
	const count = new Map();

	for (const b of got)
		count.set(b, (count.get(b) || 0) + 1);
	return {
		lost: sent.filter((b) => !count.has(b)).length,
		duplicated: Array.from(count.values()).reduce((a, c) =>
		    a + c - 1, 0),
	};
}

async function run(t, mode) {
	const d = await startInboxd(t);
	const p = await startProxy(t, d.port, everyOther(mode));
	const alice = new Inbox({ url: p.url, user: unique('alice'),
	    password: 'pw', backoffBase: 20, backoffCap: 200 });
	const bob = new Inbox({ url: d.url, user: unique('bob'),
	    password: 'pw' });
	const got = [];

	await alice.pin();
	const loop = (async () => {
		for await (const m of alice.messages({ wait: 5 }))
			got.push(m.body);
	})();
	t.after(() => alice.stop());
	const sent = await sendAll(bob, alice.user, p.stats);
	/* FIFO: once the last one is in, a copy of any other would be too. */
	await bob.send(alice.user, 'last');
	await until(() => got.includes('last'), 10000, () => mode +
	    ': the last message; got ' + got.length + ', ' +
	    JSON.stringify(tally(sent, got)));
	alice.stop();
	await loop;
	got.splice(got.indexOf('last'), 1);
	const r = tally(sent, got);
	t.diagnostic(mode + ' with inboxd.js (ack=, max=): sent ' + N +
	    ', received ' + got.length + ', lost ' + r.lost + ', duplicated ' +
	    r.duplicated + ' (' + p.stats.cut + ' responses cut, ' +
	    p.stats.replayed + ' replayed)');
	assert.deepEqual(r, { lost: 0, duplicated: 0 });
	assert.deepEqual(got, sent, 'in order');
	return r;
}

/* The README's loop, for the figures: no ack=, no max=, no dedupe. */
async function plain(t, mode) {
	const d = await startInboxd(t);
	const p = await startProxy(t, d.port, everyOther(mode));
	const name = unique('alice');
	const auth = basicAuth(name, 'pw');
	const bob = new Inbox({ url: d.url, user: unique('bob'),
	    password: 'pw' });
	const got = [];
	let stop = false;

	await fetch(d.url + '/inbox?wait=0', { headers:
	    { Authorization: auth } });
	const loop = (async () => {
		while (!stop) {
			try {
				const r = await fetch(p.url + '/inbox?wait=1',
				    { headers: { Authorization: auth } });
				if (r.status === 200)
					got.push(await r.text());
			} catch (e) {
				/* cut: try again */
			}
		}
	})();
	const sent = await sendAll(bob, name, p.stats);
	await bob.send(name, 'last');
	/* All handed out, and the loop held again: the rest is lost. */
	await until(async () => {
		const m = await (await fetch(d.url + '/metrics')).text();

		return /^inboxd_messages_queued 0$/m.test(m) &&
		    /^inboxd_waiters 1$/m.test(m);
	}, 10000, 'an empty inbox and a held GET');
	stop = true;
	await loop;
	if (got.includes('last'))
		got.splice(got.indexOf('last'), 1);
	const r = tally(sent, got);
	t.diagnostic(mode + ' with a plain loop (no ack=): sent ' + N +
	    ', received ' + got.length + ', lost ' + r.lost + ', duplicated ' +
	    r.duplicated + ' (' + p.stats.cut + ' responses cut, ' +
	    p.stats.replayed + ' replayed)');
}

for (const mode of ['early', 'after', 'swallow', 'replay']) {
	test('responses cut ' + mode + ': every message once, in order',
	    (t) => run(t, mode));
	test('responses cut ' + mode + ', the plain loop, for comparison',
	    (t) => plain(t, mode));
}

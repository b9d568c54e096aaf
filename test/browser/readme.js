#!/usr/bin/env node
/*
 * readme.js - the WebRTC chat of clients/js/README runs as it is written
 * there: its page, taken from the README, is served beside inboxd.js,
 * inboxd listens on 127.0.0.1:8080 (as with make run), and two headless
 * Chromium pages, ?me=alice&peer=bob and ?me=bob&peer=alice, must open
 * their data channel and each show the other's "hi".
 *
 * Run by run.sh inside a network namespace that has only loopback, where
 * port 8080 is free.  Exits 0 on success, 1 with the reason on failure;
 * gives up after 45 s.  What it shares with the other tests is in lib.js.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const { BrowserTest, fail } = require('./lib');

const t = new BrowserTest('readme', { timeoutMs: 45000 });

/* The indented block of README from <!DOCTYPE to </script>, unindented. */
function example() {
	const text = fs.readFileSync(path.join(__dirname,
	    '../../clients/js/README'), 'utf8');
	const m = /\n( {4}<!DOCTYPE[^]*?\n {4}<\/script>)\n/.exec(text);

	if (!m)
		fail('clients/js/README has no <!DOCTYPE ... </script> block');
	return m[1].split('\n').map((l) => l.replace(/^ {4}/, '')).join('\n') +
	    '\n';
}

async function test() {
	t.checkOnlyLoopback();

	t.current = 'starting inboxd on 127.0.0.1:8080';
	await t.startInboxd([], '127.0.0.1:8080');
	t.current = 'starting the static server';
	t.files['/clients/js/chat.html'] = example();
	const port = await t.startStatic();
	const page = 'http://127.0.0.1:' + port + '/clients/js/chat.html';
	t.log('the README\'s chat at ' + page + ', inboxd at 127.0.0.1:8080');

	t.current = 'starting Chromium';
	await t.launch();
	const viewport = { width: 600, height: 400 };
	await t.openPage('alice', page + '?me=alice&peer=bob', viewport);
	await t.openPage('bob', page + '?me=bob&peer=alice', viewport);

	t.current = 'waiting for the chat on both pages';
	for (const [me, peer] of [['alice', 'bob'], ['bob', 'alice']]) {
		const want = ['connected to ' + peer, peer + ': hi from ' + peer];

		await t.pages[me].waitForFunction((w) => w.every((x) =>
		    document.body.innerText.includes(x)), want,
		    { timeout: 20000 }).catch(async () => fail('page ' + me +
		    ' says: ' + JSON.stringify(await t.pages[me].evaluate(() =>
		    document.body.innerText))));
		t.log('page ' + me + ' says "' + want.join('" and "') + '"');
	}
	await t.screenshots();
	await t.stop();
}

t.run(test);

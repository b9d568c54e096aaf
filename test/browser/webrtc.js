#!/usr/bin/env node
/*
 * webrtc.js - two headless Chromium pages of examples/webrtc pair through
 * inboxd with a PIN and chat over a WebRTC data channel.
 *
 * Run by run.sh inside a network namespace that has only loopback: it
 * starts inboxd ($INBOXD) on a free port of 127.0.0.1, serves examples/
 * from another port (another origin, so every call to inboxd is a CORS
 * request with a preflight), opens /webrtc/ as page A ("Show a PIN") and
 * page B ("Enter a PIN") in two browser contexts, types A's PIN into B,
 * waits for both data channels to open, sends a chat message each way,
 * and checks that only 127.0.0.1 candidates were exchanged and that the
 * browser did preflight.  It prints the time from pairing to the open
 * data channel and saves a screenshot of each page in out/.
 *
 * Exits 0 on success, 1 with the reason on failure; gives up after 60 s.
 * What it shares with conference.js is in lib.js.
 */
'use strict';

const { BrowserTest, fail } = require('./lib');

const t = new BrowserTest('webrtc', { timeoutMs: 60000 });
const pages = t.pages;		/* A, B */

/* What a page shows a person: its state, its error, its last steps. */
async function pageSays(side) {
	return pages[side].evaluate(() => {
		const err = document.getElementById('error');
		const steps = Array.from(document.querySelectorAll('#status li'))
		    .slice(-3).map((li) => li.lastChild.textContent);
		return 'state ' + document.body.dataset.state +
		    (err.hidden ? '' : '; error: ' + err.textContent) +
		    '; last steps: ' + steps.join(' | ');
	}).catch((e) => 'unreadable (' + e.message + ')');
}

/* Wait until the page's state is want; fail at once on "failed". */
async function waitState(page, side, want, ms) {
	let state;

	try {
		state = await (await page.waitForFunction((w) => {
			const s = document.body.dataset.state;
			return (s === w || s === 'failed') && s;
		}, want, { timeout: ms })).jsonValue();
	} catch (e) {
		fail('page ' + side + ' not ' + want + ' after ' + ms / 1000 +
		    ' s: ' + await pageSays(side));
	}
	if (state !== want)
		fail('page ' + side + ' failed: ' + await pageSays(side));
}

async function waitChat(page, side, text) {
	await page.waitForFunction((want) => Array.from(
	    document.querySelectorAll('#messages li.peer'))
	    .some((li) => li.textContent.includes(want)), text, { timeout: 10000 })
	    .catch(() => fail('page ' + side + ' never showed the chat ' +
	    'message "' + text + '"'));
}

async function test() {
	t.checkOnlyLoopback();

	t.current = 'starting inboxd';
	const apiPort = await t.startInboxd();
	t.current = 'starting the static server';
	const pagePort = await t.startStatic();
	const api = 'http://127.0.0.1:' + apiPort;
	const home = 'http://127.0.0.1:' + pagePort + '/webrtc/';
	const url = home + '?server=' + encodeURIComponent(api) +
	    '&candidates=loopback';
	t.log('inboxd at ' + api + ', page at ' + home);

	t.current = 'starting Chromium';
	await t.launch();
	/* Two contexts: two people with nothing shared but inboxd. */
	const viewport = { width: 760, height: 900 };
	const a = await t.openPage('A', url, viewport);
	const b = await t.openPage('B', url, viewport);

	t.current = 'getting a PIN on page A';
	await a.click('#show-pin');
	await b.click('#enter-pin');
	const pin = await a.waitForFunction(() =>
	    document.getElementById('pin').dataset.pin ||
	    document.body.dataset.state === 'failed' && 'failed',
	    null, { timeout: 15000 }).then((h) => h.jsonValue(), () => null);
	if (!/^[0-9]{4,9}$/.test(pin || ''))
		fail('page A shows no PIN: ' + await pageSays('A'));
	t.log('page A shows PIN ' + pin);
	await t.shoot('A', 'A-pin');

	t.current = 'typing a wrong PIN into page B';
	await b.waitForSelector('#pin-submit:not([disabled])',
	    { timeout: 15000 }).catch(async () =>
	    fail('page B does not take a PIN: ' + await pageSays('B')));
	const wrong = pin.replace(/.$/, (d) => String((Number(d) + 1) % 10));
	await b.fill('#pin-input', wrong);
	await b.click('#pin-submit');
	await b.waitForFunction(() => {
		const e = document.getElementById('error');
		return !e.hidden && e.textContent.includes('No inbox has');
	}, null, { timeout: 10000 }).catch(async () =>
	    fail('page B did not say that PIN ' + wrong + ' is unknown: ' +
	    await pageSays('B')));
	await t.shoot('B', 'B-wrong-pin');
	t.log('page B says that the wrong PIN ' + wrong + ' names no inbox');

	t.current = 'typing the PIN into page B';
	await b.waitForSelector('#pin-submit:not([disabled])',
	    { timeout: 5000 });
	await b.fill('#pin-input', pin);
	const submitted = Date.now();
	await b.click('#pin-submit');

	t.current = 'waiting for both data channels to open';
	await Promise.all([waitState(a, 'A', 'connected', 30000),
	    waitState(b, 'B', 'connected', 30000)]);
	const wall = Date.now() - submitted;
	const ta = await a.evaluate(() => window.inboxdDemo);
	const tb = await b.evaluate(() => window.inboxdDemo);
	if (ta.peer !== tb.name || tb.peer !== ta.name)
		fail('the pages paired wrongly: A has ' + ta.peer + ' for ' +
		    tb.name + ', B has ' + tb.peer + ' for ' + ta.name);
	const paired = Math.min(ta.timings.paired, tb.timings.paired);
	const open = Math.max(ta.timings.open, tb.timings.open);
	t.log('paired ' + tb.name + ' (B) with ' + ta.name + ' (A)');
	t.log('pairing -> data channel open: ' + (open - paired) + ' ms ' +
	    '(A ' + (ta.timings.open - ta.timings.paired) + ' ms, B ' +
	    (tb.timings.open - tb.timings.paired) + ' ms; PIN submitted -> ' +
	    'both pages connected: ' + wall + ' ms)');

	t.current = 'checking the candidates';
	for (const [side, d] of [['A', ta], ['B', tb]]) {
		if (d.sentCandidates.length === 0)
			fail('page ' + side + ' sent no ICE candidate');
		if (d.sentCandidates.some((addr) => addr !== '127.0.0.1'))
			fail('page ' + side + ' sent a candidate off ' +
			    'loopback: ' + d.sentCandidates.join(' '));
	}
	t.log('candidates sent: A ' + ta.sentCandidates.length + ', B ' +
	    tb.sentCandidates.length + ' (all 127.0.0.1; not sent: ' +
	    (ta.skippedCandidates.concat(tb.skippedCandidates).join(' ') ||
	    'none') + ')');

	t.current = 'chatting';
	const hello = 'Hello A, this is B (' + pin + ')';
	const reply = 'Hi B! A here \u2014 read you over the data channel.';
	await b.fill('#chat-input', hello);
	await b.press('#chat-input', 'Enter');
	await waitChat(a, 'A', hello);
	await a.fill('#chat-input', reply);
	await a.press('#chat-input', 'Enter');
	await waitChat(b, 'B', reply);
	t.log('chat message B -> A and A -> B arrived over the data channel');

	t.current = 'taking screenshots';
	await t.screenshots();

	t.current = 'stopping inboxd';
	const lines = await t.stop();
	/* The page calls inboxd from another origin: preflights. */
	const preflights = lines.filter((l) =>
	    / OPTIONS "?\/(inbox|pin)\b/.test(l)).length;
	if (preflights === 0)
		fail('inboxd logged no OPTIONS preflight: was CORS exercised?');
	t.log('inboxd answered ' + preflights + ' CORS preflight(s)');
}

t.run(test);

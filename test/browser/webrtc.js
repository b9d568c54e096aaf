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
 * data channel, and the requests each page made to inboxd from its click
 * to its open channel (its fetches, and the CORS preflights Chromium made
 * for them), and saves a screenshot of each page in out/.  With
 * BROWSER_RUNS=N it pairs N pairs of pages, one after the other, and
 * prints the medians of those figures.
 *
 * Exits 0 on success, 1 with the reason on failure; gives up after 60 s
 * (and 15 s more for each run past the first).
 * What it shares with conference.js is in lib.js.
 */
'use strict';

const { BrowserTest, fail, median, runs } = require('./lib');

/* 60 s, and 15 s more for each run past the first (BROWSER_RUNS). */
const t = new BrowserTest('webrtc', { timeoutMs: 45000 + 15000 * runs() });
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

/*
 * Open pages A and B, pair them by PIN (after a wrong PIN on B) and wait
 * until both data channels are open; check the candidates.  Returns the
 * figures of the run: what each page asked of inboxd from its click to
 * its open channel, and the times.  last: take the screenshots.
 */
async function pairOnce(url, api, last) {
	/* Two contexts: two people with nothing shared but inboxd. */
	const viewport = { width: 760, height: 900 };
	const a = await t.openPage('A', url, viewport);
	const b = await t.openPage('B', url, viewport);
	await t.watchRequests('A', api);
	await t.watchRequests('B', api);

	t.current = 'getting a PIN on page A';
	const startA = Date.now();
	await a.click('#show-pin');
	const startB = Date.now();
	await b.click('#enter-pin');
	const pin = await a.waitForFunction(() =>
	    document.getElementById('pin').dataset.pin ||
	    document.body.dataset.state === 'failed' && 'failed',
	    null, { timeout: 15000 }).then((h) => h.jsonValue(), () => null);
	if (!/^[0-9]{4,9}$/.test(pin || ''))
		fail('page A shows no PIN: ' + await pageSays('A'));
	t.log('page A shows PIN ' + pin);
	if (last)
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
	if (last)
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
	const ra = t.requestsOf('A', startA, ta.timings.open);
	const rb = t.requestsOf('B', startB, tb.timings.open);
	t.log('requests to inboxd from the click to connected: A ' +
	    ra.requests + ' and ' + ra.preflights + ' preflights (' + ra.what +
	    '), B ' + rb.requests + ' and ' + rb.preflights + ' preflights (' +
	    rb.what + ')');

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
	return {
		a: ra, b: rb,
		submitted: open - submitted,
		start: open - startA,
		pin,
	};
}

async function test() {
	t.checkOnlyLoopback();

	t.current = 'starting inboxd';
	const apiPort = await t.startInboxd();
	t.current = 'starting the static server';
	const pagePort = await t.startStatic();
	const api = 'http://127.0.0.1:' + apiPort;
	const home = 'http://127.0.0.1:' + pagePort + '/examples/webrtc/';
	const url = home + '?server=' + encodeURIComponent(api) +
	    '&candidates=loopback';
	t.log('inboxd at ' + api + ', page at ' + home);

	t.current = 'starting Chromium';
	await t.launch();
	const n = runs();
	const figures = [];
	for (let run = 1; run <= n; run++) {
		if (n > 1)
			t.log('run ' + run + ' of ' + n);
		figures.push(await pairOnce(url, api, run === n));
		if (run < n)
			await t.closePages(['A', 'B']);
	}
	const m = (f) => median(figures.map(f));
	t.log('median of ' + n + ' run' + (n === 1 ? '' : 's') + ': requests ' +
	    'from the click to connected: A ' + m((f) => f.a.requests) +
	    ' (+' + m((f) => f.a.preflights) + ' preflights), B ' +
	    m((f) => f.b.requests) + ' (+' + m((f) => f.b.preflights) +
	    ' preflights); PIN submitted -> both connected ' +
	    m((f) => f.submitted) + ' ms; A\'s click -> both connected ' +
	    m((f) => f.start) + ' ms');
	const a = pages.A;
	const b = pages.B;
	const pin = figures[n - 1].pin;

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

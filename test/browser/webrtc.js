#!/usr/bin/env node
/*
 * webrtc.js - two headless Chromium pages of examples/webrtc pair through
 * inboxd with a PIN and chat over a WebRTC data channel.
 *
 * Run by run.sh inside a network namespace that has only loopback: it
 * starts inboxd ($INBOXD) on a free port of 127.0.0.1, serves
 * examples/webrtc from another port (another origin, so every call to
 * inboxd is a CORS request with a preflight), opens page A ("Show a
 * PIN") and page B ("Enter a PIN") in two browser contexts, types A's PIN
 * into B, waits for both data channels to open, sends a chat message each
 * way, and checks that only 127.0.0.1 candidates were exchanged and that
 * the browser did preflight.  It prints the time from pairing to the open
 * data channel and saves a screenshot of each page in out/.
 *
 * Exits 0 on success, 1 with the reason on failure; gives up after 60 s.
 */
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const { chromium } = require('playwright-core');

const TIMEOUT_MS = 60000;
const HERE = __dirname;
const PAGE_DIR = path.resolve(HERE, '../../examples/webrtc');
const OUT = path.join(HERE, 'out');
const INBOXD = process.env.INBOXD;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let current = 'starting';	/* what the test is doing, for a failure */
let inboxd = null;
let inboxdLog = '';
let staticServer = null;
let browser = null;
let tmp = null;
const pages = {};		/* A, B */
const consoleLines = [];

function log(text) {
	console.log('webrtc: ' + text);
}

function fail(text) {
	const e = new Error(text);
	e.testFailure = true;
	throw e;
}

/* Refuse to run where traffic could leave the machine. */
function checkOnlyLoopback() {
	const ifs = os.networkInterfaces();
	const others = Object.keys(ifs).filter((n) =>
	    ifs[n].some((a) => !a.internal));

	if (others.length > 0 && process.env.INBOXD_BROWSER_ANY_NET !== '1')
		fail('interfaces other than loopback are up (' +
		    others.join(', ') + '): run this through run.sh, which ' +
		    'makes a network namespace with loopback only');
}

async function startInboxd() {
	const conf = path.join(tmp, 'inboxd.conf');

	fs.writeFileSync(conf, [
		'listen 127.0.0.1:0',
		'threads 2',
		'argon2-memory-kib 64',
		'argon2-time-cost 1',
		'log-format text',
		'',
	].join('\n'));
	inboxd = spawn(INBOXD, ['-d', '-f', conf],
	    { stdio: ['ignore', 'ignore', 'pipe'] });
	inboxd.stderr.setEncoding('utf8');
	inboxd.exited = new Promise((resolve) =>
	    inboxd.on('exit', (code, sig) => resolve({ code, sig })));
	return new Promise((resolve, reject) => {
		inboxd.stderr.on('data', (chunk) => {
			inboxdLog += chunk;
			const m = /listening on .* port (\d+)/.exec(inboxdLog);
			if (m)
				resolve(Number(m[1]));
		});
		inboxd.on('error', (e) =>
		    reject(new Error('cannot run ' + INBOXD + ': ' + e.message)));
		inboxd.exited.then(({ code, sig }) => reject(new Error(
		    'inboxd exited (' + (sig || code) + ') before listening:\n' +
		    inboxdLog)));
	});
}

/* The example page, from its own origin. */
function startStatic() {
	const types = {
		'.html': 'text/html; charset=utf-8',
		'.js': 'text/javascript; charset=utf-8',
		'.css': 'text/css; charset=utf-8',
	};

	staticServer = http.createServer((req, res) => {
		let name = new URL(req.url, 'http://x').pathname;

		if (name === '/')
			name = '/index.html';
		const file = path.join(PAGE_DIR, path.basename(name));
		const type = types[path.extname(file)];
		if (req.method !== 'GET' || !type || !fs.existsSync(file)) {
			res.writeHead(404, { 'Content-Type': 'text/plain' });
			res.end('not found\n');
			return;
		}
		res.writeHead(200, { 'Content-Type': type,
		    'Cache-Control': 'no-store' });
		fs.createReadStream(file).pipe(res);
	});
	return new Promise((resolve) => staticServer.listen(0, '127.0.0.1',
	    () => resolve(staticServer.address().port)));
}

async function openPage(ctx, side, url) {
	const page = await ctx.newPage();

	page.on('console', (m) => consoleLines.push(side + ' ' + m.type() +
	    ': ' + m.text()));
	page.on('pageerror', (e) => consoleLines.push(side + ' pageerror: ' +
	    e.message));
	await page.goto(url);
	pages[side] = page;
	return page;
}

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
	await page.waitForFunction((t) => Array.from(
	    document.querySelectorAll('#messages li.peer'))
	    .some((li) => li.textContent.includes(t)), text, { timeout: 10000 })
	    .catch(() => fail('page ' + side + ' never showed the chat ' +
	    'message "' + text + '"'));
}

/* A picture of one page along the way. */
async function shoot(name) {
	const side = name.slice(0, 1);
	const file = path.join(OUT, 'webrtc-' + name + '.png');

	fs.mkdirSync(OUT, { recursive: true });
	await pages[side].screenshot({ path: file, fullPage: true });
	log('screenshot ' + path.relative(process.cwd(), file));
}

async function screenshots() {
	fs.mkdirSync(OUT, { recursive: true });
	for (const side of Object.keys(pages)) {
		const file = path.join(OUT, 'webrtc-' + side + '.png');

		if (pages[side].isClosed())
			continue;
		try {
			await pages[side].screenshot({ path: file,
			    fullPage: true, timeout: 5000 });
			log('screenshot ' + path.relative(process.cwd(), file));
		} catch (e) {
			log('no screenshot of page ' + side + ': ' + e.message);
		}
	}
}

async function test() {
	checkOnlyLoopback();

	current = 'starting inboxd';
	const apiPort = await startInboxd();
	current = 'starting the static server';
	const pagePort = await startStatic();
	const api = 'http://127.0.0.1:' + apiPort;
	const url = 'http://127.0.0.1:' + pagePort + '/?server=' +
	    encodeURIComponent(api) + '&candidates=loopback';
	log('inboxd at ' + api + ', page at http://127.0.0.1:' + pagePort);

	current = 'starting Chromium';
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		timeout: 20000,
		args: ['--headless', '--no-sandbox', '--disable-gpu',
		    '--disable-background-networking',
		    '--disable-component-update', '--disable-sync', '--disable-quic',
		    '--no-first-run', '--allow-loopback-in-peer-connection',
		    '--disable-features=WebRtcHideLocalIpsWithMdns'],
	});
	log('Chromium ' + browser.version());
	/* Two contexts: two people with nothing shared but inboxd. */
	const viewport = { width: 760, height: 900 };
	const a = await openPage(await browser.newContext({ viewport,
	    permissions: ['camera', 'microphone'] }),
	    'A', url);
	const b = await openPage(await browser.newContext({ viewport,
	    permissions: ['camera', 'microphone'] }),
	    'B', url);

	current = 'getting a PIN on page A';
	await a.click('#show-pin');
	await b.click('#enter-pin');
	const pin = await a.waitForFunction(() =>
	    document.getElementById('pin').dataset.pin ||
	    document.body.dataset.state === 'failed' && 'failed',
	    null, { timeout: 15000 }).then((h) => h.jsonValue(), () => null);
	if (!/^[0-9]{4,9}$/.test(pin || ''))
		fail('page A shows no PIN: ' + await pageSays('A'));
	log('page A shows PIN ' + pin);
	await shoot('A-pin');

	current = 'typing a wrong PIN into page B';
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
	await shoot('B-wrong-pin');
	log('page B says that the wrong PIN ' + wrong + ' names no inbox');

	current = 'typing the PIN into page B';
	await b.waitForSelector('#pin-submit:not([disabled])',
	    { timeout: 5000 });
	await b.fill('#pin-input', pin);
	const submitted = Date.now();
	await b.click('#pin-submit');

	current = 'waiting for both data channels to open';
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
	log('paired ' + tb.name + ' (B) with ' + ta.name + ' (A)');
	log('pairing -> data channel open: ' + (open - paired) + ' ms ' +
	    '(A ' + (ta.timings.open - ta.timings.paired) + ' ms, B ' +
	    (tb.timings.open - tb.timings.paired) + ' ms; PIN submitted -> ' +
	    'both pages connected: ' + wall + ' ms)');

	current = 'checking the candidates';
	for (const [side, d] of [['A', ta], ['B', tb]]) {
		if (d.sentCandidates.length === 0)
			fail('page ' + side + ' sent no ICE candidate');
		if (d.sentCandidates.some((addr) => addr !== '127.0.0.1'))
			fail('page ' + side + ' sent a candidate off ' +
			    'loopback: ' + d.sentCandidates.join(' '));
	}
	log('candidates sent: A ' + ta.sentCandidates.length + ', B ' +
	    tb.sentCandidates.length + ' (all 127.0.0.1; not sent: ' +
	    (ta.skippedCandidates.concat(tb.skippedCandidates).join(' ') ||
	    'none') + ')');

	current = 'chatting';
	const hello = 'Hello A, this is B (' + pin + ')';
	const reply = 'Hi B! A here \u2014 read you over the data channel.';
	await b.fill('#chat-input', hello);
	await b.press('#chat-input', 'Enter');
	await waitChat(a, 'A', hello);
	await a.fill('#chat-input', reply);
	await a.press('#chat-input', 'Enter');
	await waitChat(b, 'B', reply);
	log('chat message B -> A and A -> B arrived over the data channel');

	current = 'taking screenshots';
	await screenshots();

	current = 'stopping inboxd';
	await browser.close();
	browser = null;
	inboxd.kill('SIGTERM');
	const { code, sig } = await inboxd.exited;
	inboxd = null;
	if (code !== 0)
		fail('inboxd did not exit 0 on SIGTERM (' + (sig || code) +
		    ')');
	/* The page calls inboxd from another origin: preflights. */
	const preflights = inboxdLog.split('\n').filter((l) =>
	    / OPTIONS "?\/(inbox|pin)\b/.test(l)).length;
	if (preflights === 0)
		fail('inboxd logged no OPTIONS preflight: was CORS exercised?');
	log('inboxd answered ' + preflights + ' CORS preflight(s)');
}

async function cleanup() {
	if (browser)
		await browser.close().catch(() => {});
	if (inboxd) {
		inboxd.kill('SIGTERM');
		await Promise.race([inboxd.exited,
		    new Promise((r) => setTimeout(r, 3000))]);
		inboxd.kill('SIGKILL');
	}
	if (staticServer)
		staticServer.close();
	if (tmp)
		fs.rmSync(tmp, { recursive: true, force: true });
}

async function main() {
	if (!INBOXD) {
		console.error('webrtc: set INBOXD to the inboxd binary');
		process.exit(2);
	}
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inboxd-webrtc-'));
	const timer = setTimeout(async () => {
		console.error('webrtc: FAIL: timed out after ' +
		    TIMEOUT_MS / 1000 + ' s while ' + current);
		await report();
		log('0 passed, 1 failed');
		process.exit(1);
	}, TIMEOUT_MS);
	try {
		await test();
		clearTimeout(timer);
		await cleanup();
		log('1 passed, 0 failed');
		process.exit(0);
	} catch (e) {
		clearTimeout(timer);
		console.error('webrtc: FAIL while ' + current + ': ' +
		    (e.testFailure ? e.message : e.stack || e));
		await report();
		log('0 passed, 1 failed');
		process.exit(1);
	}
}

/* What helps to see why: screenshots, the pages' consoles, inboxd's log. */
async function report() {
	await screenshots().catch(() => {});
	if (consoleLines.length)
		console.error('--- page consoles ---\n' +
		    consoleLines.slice(-60).join('\n'));
	if (inboxdLog)
		console.error('--- inboxd log (last lines) ---\n' +
		    inboxdLog.split('\n').slice(-40).join('\n'));
	await cleanup();
}

main();

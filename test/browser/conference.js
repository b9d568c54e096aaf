#!/usr/bin/env node
/*
 * conference.js - three headless Chromium pages of examples/conference
 * meet in an inboxd room and see each other's (fake) camera over a full
 * mesh of RTCPeerConnections; then one of them vanishes without leaving
 * and the other two must drop its tile when inboxd says its inbox expired.
 *
 * Run by run.sh inside a network namespace that has only loopback: it
 * starts inboxd ($INBOXD) on a free port of 127.0.0.1 with a short
 * inbox-timeout, serves examples/conference from another port (another
 * origin: every call to inboxd is a CORS request), and opens page 1, which
 * creates the room and shows the meeting link; pages 2 and 3 open the
 * link and join.  Each page must show two remote videos with frames.  It
 * prints the time from opening page 3 to both of its videos playing, saves
 * a screenshot of page 1 with the three participants, then closes page 3
 * with its DELETE /rooms/ROOM/members/ME blocked, so that only the expiry
 * of its inbox can tell the others: pages 1 and 2 must drop its tile within
 * inbox-timeout + 2 s on a "left" event with reason "expired" (the pages
 * poll with wait=1, as a page that goes away while inboxd holds its GET
 * is seen only when the hold ends).  Last, a page 4 joins and is closed
 * normally: its DELETE on pagehide must get it dropped at once, on a
 * "left" with reason "left".
 *
 * Exits 0 on success, 1 with the reason on failure; gives up after 75 s.
 */
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const { chromium } = require('playwright-core');

const TIMEOUT_MS = 75000;
const INBOX_TIMEOUT = 5;	/* s, inboxd's inbox-timeout here */
const WAIT = 1;			/* s, the pages' GET /inbox?wait= */
const HERE = __dirname;
const PAGE_DIR = path.resolve(HERE, '../../examples/conference');
const OUT = path.join(HERE, 'out');
const INBOXD = process.env.INBOXD;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let current = 'starting';	/* what the test is doing, for a failure */
let inboxd = null;
let inboxdLog = '';
let staticServer = null;
let browser = null;
let tmp = null;
const pages = {};		/* 1, 2, 3 */
const consoleLines = [];

function log(text) {
	console.log('conference: ' + text);
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
		'inbox-timeout ' + INBOX_TIMEOUT,
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

/* A page in a browser context of its own: one person each. */
async function openPage(n, url) {
	const ctx = await browser.newContext({
		viewport: { width: 1000, height: 900 },
		permissions: ['camera', 'microphone'],
	});
	const page = await ctx.newPage();

	page.on('console', (m) => consoleLines.push(n + ' ' + m.type() +
	    ': ' + m.text()));
	page.on('pageerror', (e) => consoleLines.push(n + ' pageerror: ' +
	    e.message));
	pages[n] = page;
	await page.goto(url);
	return page;
}

/* What a page shows a person: its state, its error, its last steps. */
async function pageSays(n) {
	if (!pages[n] || pages[n].isClosed())
		return 'closed';
	return pages[n].evaluate(() => {
		const err = document.getElementById('error');
		const steps = Array.from(document.querySelectorAll('#status li'))
		    .slice(-4).map((li) => li.lastChild.textContent);
		return 'state ' + document.body.dataset.state +
		    (err.hidden ? '' : '; error: ' + err.textContent) +
		    '; videos ' + JSON.stringify(window.conference.remoteVideos()
		    .map((v) => [v.peer, v.width, v.connection])) +
		    '; last steps: ' + steps.join(' | ');
	}).catch((e) => 'unreadable (' + e.message + ')');
}

/* Click start/join on page n and wait until it is in the room. */
async function enter(n, button) {
	const page = pages[n];

	await page.click(button);
	let state;
	try {
		state = await (await page.waitForFunction(() => {
			const s = document.body.dataset.state;
			return (s === 'in-room' || s === 'failed' ||
			    s === 'closed') && s;
		}, null, { timeout: 15000 })).jsonValue();
	} catch (e) {
		fail('page ' + n + ' not in the room after 15 s: ' +
		    await pageSays(n));
	}
	if (state !== 'in-room')
		fail('page ' + n + ' did not get into the room: ' +
		    await pageSays(n));
	return page.evaluate(() => window.conference.me);
}

/* Wait until page n shows exactly the remote videos of peers, playing. */
async function waitVideos(n, peers, ms) {
	try {
		await pages[n].waitForFunction((want) => {
			const v = window.conference.remoteVideos();
			return v.length === want.length &&
			    want.every((p) => v.some((x) => x.peer === p &&
			    x.width > 0 && x.height > 0 && !x.paused &&
			    x.playing && x.readyState >= 2));
		}, peers, { timeout: ms, polling: 50 });
	} catch (e) {
		fail('page ' + n + ' does not show the videos of ' +
		    peers.join(', ') + ' after ' + ms / 1000 + ' s: ' +
		    await pageSays(n));
	}
}

/* Frames keep coming: each remote video decodes more of them. */
async function checkFrames(n) {
	const before = await pages[n].evaluate(() =>
	    window.conference.remoteVideos());
	await new Promise((r) => setTimeout(r, 500));
	const after = await pages[n].evaluate(() =>
	    window.conference.remoteVideos());
	for (const a of after) {
		const b = before.find((x) => x.peer === a.peer);

		if (a.frames !== null && b && a.frames <= b.frames)
			fail('page ' + n + ': the video of ' + a.peer +
			    ' is stuck at ' + a.frames + ' frames');
	}
	return after;
}

async function shoot(n, name) {
	const file = path.join(OUT, 'conference-' + name + '.png');

	fs.mkdirSync(OUT, { recursive: true });
	await pages[n].screenshot({ path: file, fullPage: true,
	    timeout: 5000 });
	log('screenshot ' + path.relative(process.cwd(), file));
}

async function screenshots() {
	for (const n of Object.keys(pages)) {
		if (pages[n].isClosed())
			continue;
		try {
			await shoot(n, 'page' + n);
		} catch (e) {
			log('no screenshot of page ' + n + ': ' + e.message);
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
	    encodeURIComponent(api) + '&candidates=loopback&wait=' + WAIT;
	log('inboxd at ' + api + ' (inbox-timeout ' + INBOX_TIMEOUT +
	    ' s), page at http://127.0.0.1:' + pagePort);

	current = 'starting Chromium';
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		timeout: 20000,
		args: ['--headless', '--no-sandbox', '--disable-gpu',
		    '--disable-background-networking',
		    '--disable-component-update', '--disable-sync', '--disable-quic',
		    '--no-first-run', '--allow-loopback-in-peer-connection',
		    '--disable-features=WebRtcHideLocalIpsWithMdns',
		    '--use-fake-device-for-media-stream',
		    '--use-fake-ui-for-media-stream'],
	});
	log('Chromium ' + browser.version());

	current = 'creating the room on page 1';
	await openPage(1, url);
	const name1 = await enter(1, '#start');
	const link = await pages[1].evaluate(() => window.conference.link);
	const hash = new URLSearchParams(new URL(link).hash.slice(1));
	if (!hash.get('room') || !hash.get('token'))
		fail('the meeting link has no room or token: ' + link);
	log('page 1 (' + name1 + ') created room ' + hash.get('room'));

	current = 'joining with page 2';
	await openPage(2, link);
	const name2 = await enter(2, '#join');
	await Promise.all([waitVideos(1, [name2], 20000),
	    waitVideos(2, [name1], 20000)]);
	log('page 2 (' + name2 + ') joined; pages 1 and 2 see each other');

	current = 'joining with page 3';
	const opened = Date.now();
	await openPage(3, link);
	const name3 = await enter(3, '#join');
	await waitVideos(3, [name1, name2], 20000);
	const seen = Date.now();
	const c3 = await pages[3].evaluate(() => window.conference);
	const firstFrames = Math.max(c3.videoPlaying[name1],
	    c3.videoPlaying[name2]);
	log('page 3 (' + name3 + '): opened -> both remote videos playing ' +
	    (firstFrames - opened) + ' ms (joined after ' +
	    (c3.timings.inRoom - opened) + ' ms; seen by the test after ' +
	    (seen - opened) + ' ms)');

	current = 'checking the videos on every page';
	await Promise.all([waitVideos(1, [name2, name3], 15000),
	    waitVideos(2, [name1, name3], 15000)]);
	for (const [n, peers] of [[1, [name2, name3]], [2, [name1, name3]],
	    [3, [name1, name2]]]) {
		const v = await checkFrames(n);
		const members = await pages[n].evaluate(() =>
		    window.conference.members);

		if (members.length !== 3 ||
		    ![name1, name2, name3].every((m) => members.includes(m)))
			fail('page ' + n + ' lists the members ' +
			    JSON.stringify(members));
		log('page ' + n + ': ' + v.map((x) => x.peer + ' ' + x.width +
		    'x' + x.height + ' (' + x.frames + ' frames)').join(', '));
	}
	const candidates = await Promise.all([1, 2, 3].map((n) =>
	    pages[n].evaluate(() => window.conference.sentCandidates)));
	if (candidates.flat().some((a) => a !== '127.0.0.1'))
		fail('a page sent a candidate off loopback: ' +
		    candidates.flat().join(' '));

	current = 'taking the screenshot of page 1';
	await shoot(1, 'three');

	current = 'closing page 3 without its DELETE';
	/*
	 * page.route cannot stop the DELETE: a keepalive fetch sent on
	 * pagehide outlives the page and its interception.  DevTools' URL
	 * blocking acts in the renderer, before the request leaves it.
	 */
	const cdp = await pages[3].context().newCDPSession(pages[3]);
	await cdp.send('Network.enable');
	const pattern = '*/rooms/*/members/*';
	await cdp.send('Network.setBlockedURLs', { urls: [pattern] })
	    .catch(() => cdp.send('Network.setBlockedURLs',
	    { urlPatterns: [{ urlPattern: pattern, block: true }] }));
	const closed = Date.now();
	await pages[3].close({ runBeforeUnload: false });

	current = 'waiting for pages 1 and 2 to drop the tile of page 3';
	const budget = (INBOX_TIMEOUT + 2) * 1000;
	const drops = await Promise.all([1, 2].map(async (n) => {
		try {
			await pages[n].waitForFunction((gone) =>
			    !window.conference.remoteVideos()
			    .some((v) => v.peer === gone), name3,
			    { timeout: Math.max(1, budget - (Date.now() -
			    closed)), polling: 50 });
		} catch (e) {
			fail('page ' + n + ' still shows ' + name3 + ' ' +
			    budget / 1000 + ' s after page 3 closed: ' +
			    await pageSays(n));
		}
		const at = Date.now();
		const c = await pages[n].evaluate(() => window.conference);
		return { n, at, left: c.lastLeft, members: c.members };
	}));
	for (const d of drops) {
		const l = d.left;

		if (!l || l.peer !== name3 || l.event !== 'left')
			fail('page ' + d.n + ' dropped the tile of ' + name3 +
			    ' without a "left" event about it (last: ' +
			    JSON.stringify(l) + ')');
		if (l.reason !== 'expired')
			fail('page ' + d.n + ': the "left" event says reason ' +
			    JSON.stringify(l.reason) + ', not "expired": ' +
			    'did the DELETE get through?');
		if (d.members.includes(name3))
			fail('page ' + d.n + ' still lists ' + name3);
		log('page ' + d.n + ' dropped the tile of page 3 ' +
		    (l.at - closed) + ' ms after it closed (left event, ' +
		    'reason "' + l.reason + '"; members now ' +
		    JSON.stringify(l.members) + ')');
	}
	const deletes = inboxdLog.split('\n').filter((line) =>
	    / DELETE "?\/rooms\//.test(line) && line.includes(name3));
	if (deletes.length)
		fail('the DELETE of page 3 reached inboxd: ' + deletes[0]);
	log('page 3 vanished without leaving (its DELETE blocked): tile ' +
	    'drop, within ' + budget / 1000 + ' s: page 1 ' +
	    (drops[0].left.at - closed) + ' ms, page 2 ' +
	    (drops[1].left.at - closed) + ' ms after the close');

	current = 'checking pages 1 and 2 still see each other';
	await Promise.all([waitVideos(1, [name2], 5000),
	    waitVideos(2, [name1], 5000)]);

	/* The other way out: a page that is closed leaves on pagehide. */
	current = 'joining with page 4';
	await openPage(4, link);
	const name4 = await enter(4, '#join');
	await Promise.all([waitVideos(4, [name1, name2], 20000),
	    waitVideos(1, [name2, name4], 20000),
	    waitVideos(2, [name1, name4], 20000)]);
	current = 'closing page 4, which leaves on pagehide';
	const closed4 = Date.now();
	await pages[4].close({ runBeforeUnload: false });
	const quick = 3000;
	for (const n of [1, 2]) {
		try {
			await pages[n].waitForFunction((gone) =>
			    !window.conference.remoteVideos()
			    .some((v) => v.peer === gone), name4,
			    { timeout: Math.max(1, quick - (Date.now() -
			    closed4)), polling: 50 });
		} catch (e) {
			fail('page ' + n + ' still shows ' + name4 + ' ' +
			    quick / 1000 + ' s after page 4 closed: did its ' +
			    'DELETE on pagehide get lost? ' + await pageSays(n));
		}
		const l = await pages[n].evaluate(() =>
		    window.conference.lastLeft);
		if (!l || l.peer !== name4 || l.reason !== 'left')
			fail('page ' + n + ' dropped ' + name4 + ' on ' +
			    JSON.stringify(l) + ', not on its own "left"');
		log('page ' + n + ' dropped the tile of page 4 ' +
		    (l.at - closed4) + ' ms after it closed (left event, ' +
		    'reason "left": its DELETE on pagehide)');
	}

	current = 'stopping inboxd';
	await screenshots();
	await browser.close();
	browser = null;
	inboxd.kill('SIGTERM');
	const { code, sig } = await inboxd.exited;
	inboxd = null;
	if (code !== 0)
		fail('inboxd did not exit 0 on SIGTERM (' + (sig || code) +
		    ')');
	const lines = inboxdLog.split('\n');
	const requests = lines.filter((l) =>
	    / (GET|POST|DELETE|OPTIONS) "?\//.test(l)).length;
	const preflights = lines.filter((l) => / OPTIONS "?\//.test(l));
	if (!preflights.some((l) => / OPTIONS "?\/rooms\b/.test(l)))
		fail('inboxd logged no OPTIONS preflight of /rooms: was ' +
		    'CORS exercised?');
	log('inboxd answered ' + requests + ' requests, ' +
	    preflights.length + ' of them CORS preflights');
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

/* What helps to see why: screenshots, the pages' consoles, inboxd's log. */
async function report() {
	await screenshots().catch(() => {});
	if (consoleLines.length)
		console.error('--- page consoles ---\n' +
		    consoleLines.slice(-80).join('\n'));
	if (inboxdLog)
		console.error('--- inboxd log (last lines) ---\n' +
		    inboxdLog.split('\n').slice(-60).join('\n'));
	await cleanup();
}

async function main() {
	if (!INBOXD) {
		console.error('conference: set INBOXD to the inboxd binary');
		process.exit(2);
	}
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inboxd-conference-'));
	const started = Date.now();
	const timer = setTimeout(async () => {
		console.error('conference: FAIL: timed out after ' +
		    TIMEOUT_MS / 1000 + ' s while ' + current);
		await report();
		log('0 passed, 1 failed');
		process.exit(1);
	}, TIMEOUT_MS);
	try {
		await test();
		clearTimeout(timer);
		if (process.env.INBOXD_BROWSER_VERBOSE === '1')
			console.log('--- page consoles ---\n' +
			    consoleLines.join('\n'));
		await cleanup();
		log('ran in ' + ((Date.now() - started) / 1000).toFixed(1) +
		    ' s');
		log('1 passed, 0 failed');
		process.exit(0);
	} catch (e) {
		clearTimeout(timer);
		console.error('conference: FAIL while ' + current + ': ' +
		    (e.testFailure ? e.message : e.stack || e));
		await report();
		log('0 passed, 1 failed');
		process.exit(1);
	}
}

main();

#!/usr/bin/env node
/*
 * conference.js - three headless Chromium pages of examples/conference
 * meet in an inboxd room and see each other's (fake) camera over a full
 * mesh of RTCPeerConnections; then one of them vanishes without leaving
 * and the other two must drop its tile when inboxd says its inbox expired.
 *
 * Run by run.sh inside a network namespace that has only loopback: it
 * starts inboxd ($INBOXD) on a free port of 127.0.0.1 with a short
 * inbox-timeout, serves examples/ from another port (another origin: every
 * call to inboxd is a CORS request), and opens /conference/ as page 1,
 * which creates the room and shows the meeting link; pages 2 and 3 open
 * the link and join.  Each page must show two remote videos with frames.  It
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
 * What it shares with webrtc.js is in lib.js.
 */
'use strict';

const { BrowserTest, fail, median, runs } = require('./lib');

const INBOX_TIMEOUT = 5;	/* s, inboxd's inbox-timeout here */
const WAIT = 1;			/* s, the pages' GET /inbox?wait= */

const t = new BrowserTest('conference', {
	/* 75 s, and 20 s more for each run past the first (BROWSER_RUNS). */
	timeoutMs: 55000 + 20000 * runs(),
	consoleTail: 80,
	logTail: 60,
	shotName: (n) => 'page' + n,
});
const pages = t.pages;		/* 1, 2, 3, 4 */

/* A page in a browser context of its own: one person each. */
function openPage(n, url) {
	return t.openPage(n, url, { width: 1000, height: 900 });
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

/*
 * Page 1 creates a room, pages 2 and 3 join from its link, and every page
 * must play the videos of the other two.  Returns the names, the link,
 * and the figures of the run: for each page, what it asked of inboxd from
 * its click to playing every other video, and the times.
 */
async function meetOnce(url, api) {
	const clicked = {};
	const start = async (k, link, button) => {
		await openPage(k, link);
		await t.watchRequests(k, api);
		clicked[k] = Date.now();
		return enter(k, button);
	};

	t.current = 'creating the room on page 1';
	const name1 = await start(1, url, '#start');
	const link = await pages[1].evaluate(() => window.conference.link);
	const hash = new URLSearchParams(new URL(link).hash.slice(1));
	if (!hash.get('room') || !hash.get('token'))
		fail('the meeting link has no room or token: ' + link);
	t.log('page 1 (' + name1 + ') created room ' + hash.get('room'));

	t.current = 'joining with page 2';
	const name2 = await start(2, link, '#join');
	await Promise.all([waitVideos(1, [name2], 20000),
	    waitVideos(2, [name1], 20000)]);
	t.log('page 2 (' + name2 + ') joined; pages 1 and 2 see each other');

	t.current = 'joining with page 3';
	const opened = Date.now();
	const name3 = await start(3, link, '#join');
	await waitVideos(3, [name1, name2], 20000);
	const seen = Date.now();
	const c3 = await pages[3].evaluate(() => window.conference);
	const firstFrames = Math.max(c3.videoPlaying[name1],
	    c3.videoPlaying[name2]);
	t.log('page 3 (' + name3 + '): opened -> both remote videos playing ' +
	    (firstFrames - opened) + ' ms (joined after ' +
	    (c3.timings.inRoom - opened) + ' ms; seen by the test after ' +
	    (seen - opened) + ' ms)');

	t.current = 'checking the videos on every page';
	await Promise.all([waitVideos(1, [name2, name3], 15000),
	    waitVideos(2, [name1, name3], 15000)]);
	const names = { 1: name1, 2: name2, 3: name3 };
	const figures = {};
	for (const [k, peers] of [[1, [name2, name3]], [2, [name1, name3]],
	    [3, [name1, name2]]]) {
		const v = await checkFrames(k);
		const c = await pages[k].evaluate(() => window.conference);
		const members = c.members;

		if (members.length !== 3 ||
		    ![name1, name2, name3].every((x) => members.includes(x)))
			fail('page ' + k + ' lists the members ' +
			    JSON.stringify(members));
		t.log('page ' + k + ': ' + v.map((x) => x.peer + ' ' + x.width +
		    'x' + x.height + ' (' + x.frames + ' frames)').join(', '));
		const all = Math.max(...peers.map((p) => c.videoPlaying[p]));
		figures[k] = Object.assign(t.requestsOf(k, clicked[k], all), {
			ms: all - clicked[k],
			first: Math.min(...peers.map((p) => c.videoPlaying[p])) -
			    clicked[k],
		});
		t.log('page ' + k + ' (' + names[k] + '): requests to inboxd ' +
		    'from its click to playing every other video: ' +
		    figures[k].requests + ' and ' + figures[k].preflights +
		    ' preflights (' + figures[k].what + '), in ' +
		    figures[k].ms + ' ms');
	}
	const candidates = await Promise.all([1, 2, 3].map((k) =>
	    pages[k].evaluate(() => window.conference.sentCandidates)));
	if (candidates.flat().some((x) => x !== '127.0.0.1'))
		fail('a page sent a candidate off loopback: ' +
		    candidates.flat().join(' '));
	return { name1, name2, name3, link, figures };
}

async function test() {
	t.checkOnlyLoopback();

	t.current = 'starting inboxd';
	const apiPort = await t.startInboxd(['inbox-timeout ' +
	    INBOX_TIMEOUT]);
	t.current = 'starting the static server';
	const pagePort = await t.startStatic();
	const api = 'http://127.0.0.1:' + apiPort;
	const home = 'http://127.0.0.1:' + pagePort + '/examples/conference/';
	const url = home + '?server=' + encodeURIComponent(api) +
	    '&candidates=loopback&wait=' + WAIT;
	t.log('inboxd at ' + api + ' (inbox-timeout ' + INBOX_TIMEOUT +
	    ' s), page at ' + home);

	t.current = 'starting Chromium';
	await t.launch(['--use-fake-device-for-media-stream',
	    '--use-fake-ui-for-media-stream']);

	const n = runs();
	const figures = [];
	let met;
	for (let run = 1; run <= n; run++) {
		if (n > 1)
			t.log('run ' + run + ' of ' + n);
		met = await meetOnce(url, api);
		figures.push(met.figures);
		if (run < n)
			await t.closePages([1, 2, 3]);
	}
	const m = (f) => median(figures.map(f));
	t.log('median of ' + n + ' run' + (n === 1 ? '' : 's') + ': requests ' +
	    'from the click to playing every other video: ' + [1, 2, 3].map((k) =>
	    'page ' + k + ' ' + m((f) => f[k].requests) + ' (+' +
	    m((f) => f[k].preflights) + ' preflights)').join(', ') +
	    '; click -> playing every other video: page 2 ' +
	    m((f) => f[2].first) + ' ms (to page 1\'s), page 3 ' +
	    m((f) => f[3].ms) + ' ms');
	const { name1, name2, name3, link } = met;

	t.current = 'taking the screenshot of page 1';
	await t.shoot(1, 'three', 5000);

	t.current = 'closing page 3 without its DELETE';
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

	t.current = 'waiting for pages 1 and 2 to drop the tile of page 3';
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
		t.log('page ' + d.n + ' dropped the tile of page 3 ' +
		    (l.at - closed) + ' ms after it closed (left event, ' +
		    'reason "' + l.reason + '"; members now ' +
		    JSON.stringify(l.members) + ')');
	}
	const deletes = t.inboxdLog.split('\n').filter((line) =>
	    / DELETE "?\/rooms\//.test(line) && line.includes(name3));
	if (deletes.length)
		fail('the DELETE of page 3 reached inboxd: ' + deletes[0]);
	t.log('page 3 vanished without leaving (its DELETE blocked): tile ' +
	    'drop, within ' + budget / 1000 + ' s: page 1 ' +
	    (drops[0].left.at - closed) + ' ms, page 2 ' +
	    (drops[1].left.at - closed) + ' ms after the close');

	t.current = 'checking pages 1 and 2 still see each other';
	await Promise.all([waitVideos(1, [name2], 5000),
	    waitVideos(2, [name1], 5000)]);

	/* The other way out: a page that is closed leaves on pagehide. */
	t.current = 'joining with page 4';
	await openPage(4, link);
	const name4 = await enter(4, '#join');
	await Promise.all([waitVideos(4, [name1, name2], 20000),
	    waitVideos(1, [name2, name4], 20000),
	    waitVideos(2, [name1, name4], 20000)]);
	t.current = 'closing page 4, which leaves on pagehide';
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
		t.log('page ' + n + ' dropped the tile of page 4 ' +
		    (l.at - closed4) + ' ms after it closed (left event, ' +
		    'reason "left": its DELETE on pagehide)');
	}

	t.current = 'stopping inboxd';
	await t.screenshots();
	const lines = await t.stop();
	const requests = lines.filter((l) =>
	    / (GET|POST|DELETE|OPTIONS) "?\//.test(l)).length;
	const preflights = lines.filter((l) => / OPTIONS "?\//.test(l));
	if (!preflights.some((l) => / OPTIONS "?\/rooms\b/.test(l)))
		fail('inboxd logged no OPTIONS preflight of /rooms: was ' +
		    'CORS exercised?');
	t.log('inboxd answered ' + requests + ' requests, ' +
	    preflights.length + ' of them CORS preflights');
}

t.run(test);

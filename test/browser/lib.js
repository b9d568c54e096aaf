/*
 * lib.js - what the browser tests share: inboxd started with a config of
 * the test's on a free port of 127.0.0.1, examples/ and clients/js/
 * served from another port (another origin, so every call to inboxd is a
 * CORS request with a preflight), headless Chromium with the flags that
 * let WebRTC run on loopback, pages that keep their console, the count of
 * their requests to inboxd, screenshots in out/, and a run() with a
 * deadline that reports and cleans up on failure.
 *
 *     const { BrowserTest, fail } = require('./lib');
 *     const t = new BrowserTest('webrtc', { timeoutMs: 60000 });
 *     t.run(async () => { ... });
 *
 * Run by run.sh inside a network namespace that has only loopback.
 */
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const { chromium } = require('playwright-core');

const TOP = path.resolve(__dirname, '../..');
/* What the static server serves: the pages, and the client they import. */
const SERVED = ['examples', 'clients/js'].map((d) => path.join(TOP, d));
const OUT = path.join(__dirname, 'out');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic',
    '--no-first-run', '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns'];

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8',
};

/* A failure of what is tested: reported by its message, not its stack. */
function fail(text) {
	const e = new Error(text);
	e.testFailure = true;
	throw e;
}

class BrowserTest {
	/*
	 * name: the test's name, in front of what it prints and in its
	 * screenshots' names.  opts: timeoutMs, the deadline of the whole
	 * test; consoleTail and logTail, how many lines of the pages'
	 * consoles and of inboxd's log a failure shows; shotName, the name
	 * of the last screenshot of a page from its key (default the key).
	 */
	constructor(name, opts) {
		this.name = name;
		this.timeoutMs = opts.timeoutMs;
		this.consoleTail = opts.consoleTail || 60;
		this.logTail = opts.logTail || 40;
		this.shotName = opts.shotName || ((key) => String(key));
		this.current = 'starting';	/* for a failure: doing what */
		this.inboxd = null;
		this.inboxdLog = '';
		this.staticServer = null;
		this.browser = null;
		this.tmp = null;
		this.pages = {};
		this.files = {};	/* path -> more for the static server */
		this.requests = {};	/* key -> what watchRequests saw */
		this.consoleLines = [];
	}

	log(text) {
		console.log(this.name + ': ' + text);
	}

	/* Refuse to run where traffic could leave the machine. */
	checkOnlyLoopback() {
		const ifs = os.networkInterfaces();
		const others = Object.keys(ifs).filter((n) =>
		    ifs[n].some((a) => !a.internal));

		if (others.length > 0 &&
		    process.env.INBOXD_BROWSER_ANY_NET !== '1')
			fail('interfaces other than loopback are up (' +
			    others.join(', ') + '): run this through run.sh, ' +
			    'which makes a network namespace with loopback ' +
			    'only');
	}

	/*
	 * inboxd ($INBOXD) on listen (default a free port of 127.0.0.1)
	 * with cheap Argon2id and the config lines given; resolves to its
	 * port.
	 */
	startInboxd(config, listen) {
		const conf = path.join(this.tmp, 'inboxd.conf');
		const bin = process.env.INBOXD;

		fs.writeFileSync(conf, [
			'listen ' + (listen || '127.0.0.1:0'),
			'threads 2',
			'argon2-memory-kib 64',
			'argon2-time-cost 1',
			...(config || []),
			'log-format text',
			'',
		].join('\n'));
		const inboxd = this.inboxd = spawn(bin, ['-d', '-f', conf],
		    { stdio: ['ignore', 'ignore', 'pipe'] });
		inboxd.stderr.setEncoding('utf8');
		inboxd.exited = new Promise((resolve) =>
		    inboxd.on('exit', (code, sig) => resolve({ code, sig })));
		return new Promise((resolve, reject) => {
			inboxd.stderr.on('data', (chunk) => {
				this.inboxdLog += chunk;
				const m = /listening on .* port (\d+)/
				    .exec(this.inboxdLog);
				if (m)
					resolve(Number(m[1]));
			});
			inboxd.on('error', (e) => reject(new Error(
			    'cannot run ' + bin + ': ' + e.message)));
			inboxd.exited.then(({ code, sig }) => reject(new Error(
			    'inboxd exited (' + (sig || code) + ') before ' +
			    'listening:\n' + this.inboxdLog)));
		});
	}

	/*
	 * The end of a test that passed: Chromium closed, then SIGTERM to
	 * inboxd, which must exit 0.  Resolves to the lines of its log.
	 */
	async stop() {
		await this.browser.close();
		this.browser = null;
		this.inboxd.kill('SIGTERM');
		const { code, sig } = await this.inboxd.exited;

		this.inboxd = null;
		if (code !== 0)
			fail('inboxd did not exit 0 on SIGTERM (' +
			    (sig || code) + ')');
		return this.inboxdLog.split('\n');
	}

	/*
	 * The top of the tree from its own origin, as the examples' READMEs
	 * serve it, but only examples/ and clients/js/: the pages at
	 * /examples/webrtc/ and /examples/conference/, what they share at
	 * /examples/lib/, the client of inboxd they import at
	 * /clients/js/inboxd.js; and the files of this.files, by path.
	 * Resolves to the port.
	 */
	startStatic() {
		this.staticServer = http.createServer((req, res) => {
			const url = new URL(req.url, 'http://x');
			let name;

			try {
				name = decodeURIComponent(url.pathname);
			} catch (e) {
				name = '';
			}
			if (Object.hasOwn(this.files, name)) {
				res.writeHead(200, { 'Content-Type':
				    TYPES[path.extname(name)] || 'text/plain',
				    'Cache-Control': 'no-store' });
				res.end(this.files[name]);
				return;
			}
			let file = path.join(TOP, name);
			if (!SERVED.some((d) => file.startsWith(d + path.sep)) ||
			    req.method !== 'GET' || !fs.existsSync(file)) {
				notFound(res);
				return;
			}
			if (fs.statSync(file).isDirectory()) {
				if (!name.endsWith('/')) {
					res.writeHead(301, { Location:
					    url.pathname + '/' + url.search });
					res.end();
					return;
				}
				file = path.join(file, 'index.html');
			}
			const type = TYPES[path.extname(file)];
			if (!type || !fs.existsSync(file) ||
			    !fs.statSync(file).isFile()) {
				notFound(res);
				return;
			}
			res.writeHead(200, { 'Content-Type': type,
			    'Cache-Control': 'no-store' });
			fs.createReadStream(file).pipe(res);
		});
		const server = this.staticServer;

		return new Promise((resolve) => server.listen(0, '127.0.0.1',
		    () => resolve(server.address().port)));
	}

	/* Headless Chromium with the common flags and these others. */
	async launch(extraArgs) {
		this.browser = await chromium.launch({
			executablePath: process.env.CHROMIUM ||
			    '/usr/bin/chromium',
			headless: true,
			timeout: 20000,
			args: CHROMIUM_ARGS.concat(extraArgs || []),
		});
		this.log('Chromium ' + this.browser.version());
		return this.browser;
	}

	/*
	 * A page in a browser context of its own (one person each) with
	 * camera and microphone permission, as pages[key]; its console
	 * goes to consoleLines.
	 */
	async openPage(key, url, viewport) {
		const ctx = await this.browser.newContext({ viewport,
		    permissions: ['camera', 'microphone'] });
		const page = await ctx.newPage();

		page.on('console', (m) => this.consoleLines.push(key + ' ' +
		    m.type() + ': ' + m.text()));
		page.on('pageerror', (e) => this.consoleLines.push(key +
		    ' pageerror: ' + e.message));
		this.pages[key] = page;
		await page.goto(url);
		return page;
	}

	/*
	 * Record what page key asks of origin from now on, in
	 * requests[key]: each request its scripts make ({at, method, url})
	 * and each CORS preflight Chromium makes for them ({preflight:
	 * true}), which Playwright does not report but DevTools does.
	 */
	async watchRequests(key, origin) {
		const page = this.pages[key];
		const list = this.requests[key] = [];
		const ours = (url) => url.startsWith(origin + '/');
		const cdp = await page.context().newCDPSession(page);

		page.on('request', (r) => {
			if (ours(r.url()))
				list.push({ at: Date.now(), method: r.method(),
				    url: r.url(), preflight: false });
		});
		await cdp.send('Network.enable');
		cdp.on('Network.requestWillBeSent', (e) => {
			if (e.request.method === 'OPTIONS' && ours(e.request.url))
				list.push({ at: Date.now(), method: 'OPTIONS',
				    url: e.request.url, preflight: true });
		});
		return list;
	}

	/*
	 * What page key asked of inboxd from epoch ms from to to: {requests,
	 * preflights, what}, what the requests by method and path, such as
	 * "GET /inbox 5, POST /pin 1".
	 */
	requestsOf(key, from, to) {
		const list = (this.requests[key] || []).filter((r) =>
		    r.at >= from && r.at <= to);
		const kinds = new Map();

		for (const r of list.filter((x) => !x.preflight)) {
			const k = r.method + ' ' + new URL(r.url).pathname
			    .replace(/^\/rooms\/[^/]+/, '/rooms/R')
			    .replace(/\/members\/[^/]+$/, '/members/N');
			kinds.set(k, (kinds.get(k) || 0) + 1);
		}
		return {
			requests: list.filter((x) => !x.preflight).length,
			preflights: list.filter((x) => x.preflight).length,
			what: Array.from(kinds, ([k, n]) => k + ' ' + n).join(', '),
		};
	}

	/* Close the pages of these keys, and their browser contexts. */
	async closePages(keys) {
		for (const key of keys) {
			const page = this.pages[key];

			if (page && !page.isClosed())
				await page.context().close();
			delete this.pages[key];
			delete this.requests[key];
		}
	}

	/* A picture of page key in out/NAME-name.png. */
	async shoot(key, name, timeout) {
		const file = path.join(OUT, this.name + '-' + name + '.png');

		fs.mkdirSync(OUT, { recursive: true });
		await this.pages[key].screenshot(Object.assign({ path: file,
		    fullPage: true }, timeout ? { timeout } : {}));
		this.log('screenshot ' + path.relative(process.cwd(), file));
	}

	/* A last picture of every page still open. */
	async screenshots() {
		for (const key of Object.keys(this.pages)) {
			if (this.pages[key].isClosed())
				continue;
			try {
				await this.shoot(key, this.shotName(key), 5000);
			} catch (e) {
				this.log('no screenshot of page ' + key + ': ' +
				    e.message);
			}
		}
	}

	async cleanup() {
		if (this.browser)
			await this.browser.close().catch(() => {});
		if (this.inboxd) {
			this.inboxd.kill('SIGTERM');
			await Promise.race([this.inboxd.exited,
			    new Promise((r) => setTimeout(r, 3000))]);
			this.inboxd.kill('SIGKILL');
		}
		if (this.staticServer)
			this.staticServer.close();
		if (this.tmp)
			fs.rmSync(this.tmp, { recursive: true, force: true });
	}

	/* What helps to see why: screenshots, consoles, inboxd's log. */
	async report() {
		await this.screenshots().catch(() => {});
		if (this.consoleLines.length)
			console.error('--- page consoles ---\n' +
			    this.consoleLines.slice(-this.consoleTail)
			    .join('\n'));
		if (this.inboxdLog)
			console.error('--- inboxd log (last lines) ---\n' +
			    this.inboxdLog.split('\n').slice(-this.logTail)
			    .join('\n'));
		await this.cleanup();
	}

	/*
	 * Run test() before the deadline and exit: 0 when it passed, 1 with
	 * the reason when it failed or timed out, 2 without $INBOXD.
	 */
	async run(test) {
		if (!process.env.INBOXD) {
			console.error(this.name +
			    ': set INBOXD to the inboxd binary');
			process.exit(2);
		}
		this.tmp = fs.mkdtempSync(path.join(os.tmpdir(),
		    'inboxd-' + this.name + '-'));
		const started = Date.now();
		const failed = async (why) => {
			console.error(this.name + ': FAIL' + why);
			await this.report();
			this.log('0 passed, 1 failed');
			process.exit(1);
		};
		const timer = setTimeout(() => failed(': timed out after ' +
		    this.timeoutMs / 1000 + ' s while ' + this.current),
		    this.timeoutMs);
		try {
			await test();
			clearTimeout(timer);
			if (process.env.INBOXD_BROWSER_VERBOSE === '1')
				console.log('--- page consoles ---\n' +
				    this.consoleLines.join('\n'));
			await this.cleanup();
			this.log('ran in ' + ((Date.now() - started) / 1000)
			    .toFixed(1) + ' s');
			this.log('1 passed, 0 failed');
			process.exit(0);
		} catch (e) {
			clearTimeout(timer);
			await failed(' while ' + this.current + ': ' +
			    (e.testFailure ? e.message : e.stack || e));
		}
	}
}

/* The median of some numbers. */
function median(values) {
	const v = values.slice().sort((a, b) => a - b);
	const mid = Math.floor(v.length / 2);

	return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/* How many times to measure (BROWSER_RUNS, default 1). */
function runs() {
	const n = Number(process.env.BROWSER_RUNS || 1);

	return Number.isInteger(n) && n > 0 ? n : 1;
}

function notFound(res) {
	res.writeHead(404, { 'Content-Type': 'text/plain' });
	res.end('not found\n');
}

module.exports = { BrowserTest, fail, median, runs };

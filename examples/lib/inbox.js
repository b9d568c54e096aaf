/*
 * inbox.js - what the example pages of inboxd share: the Progress list and
 * the error line, the settings (the inboxd field, ?server=, ?ice=,
 * ?candidates=), a random inbox name and password sent as Basic auth, and
 * a fetch client of inboxd that retries with backoff, long-polls the inbox
 * (GET /inbox?wait=) and posts JSON to a peer (POST /inbox?to=).
 *
 * A page loads it before its own script, from the examples/ folder that
 * is served as a whole:
 *
 *     <script src="../lib/inbox.js"></script>
 *     <script src="app.js"></script>
 *
 * and gets window.Inboxd.  The page must have the elements #server (the
 * inboxd field), #status (the Progress list), #state, #error, #my-name
 * and #restart.
 *
 * Plain JavaScript, no framework, no build step.
 */
'use strict';

window.Inboxd = (function () {
	const MAX_BACKOFF = 30000;	/* ms between retries, at most */
	const $ = (id) => document.getElementById(id);

	function show(id, visible) {
		$(id).hidden = !visible;
	}

	function sleep(ms) {
		return new Promise((resolve) => setTimeout(resolve, ms));
	}

	function randomHex(bytes) {
		const a = new Uint8Array(bytes);

		crypto.getRandomValues(a);
		return Array.from(a, (b) => b.toString(16).padStart(2, '0'))
		    .join('');
	}

	/* base64 of the UTF-8 bytes of s (btoa alone takes Latin-1). */
	function base64(s) {
		return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
	}

	/* ?ice=: STUN/TURN URLs separated by commas, or RTCIceServer JSON. */
	function parseIce(text) {
		if (!text)
			return [];
		if (text.trim().startsWith('['))
			return JSON.parse(text);
		return [{ urls: text.split(',').map((u) => u.trim())
		    .filter(Boolean) }];
	}

	/* The IP address of a candidate, from its fields or its line. */
	function candidateAddress(c) {
		if (c.address)
			return c.address;
		const f = (c.candidate || '').split(' ');
		return f.length > 5 ? f[4] : '';
	}

	/* The reason inboxd gave in its JSON error body. */
	async function errorMessage(res) {
		try {
			const j = await res.json();
			return j.message || j.error || res.statusText;
		} catch (e) {
			return res.statusText || 'no explanation';
		}
	}

	function explain(status, message) {
		switch (status) {
		case 400:
			return 'inboxd refused the request (400: ' + message + ').';
		case 401:
			return 'inboxd refused this page\'s credentials (401: ' +
			    message + '). Start over to get a new inbox.';
		case 404:
			return 'Not found (404: ' + message + ').';
		default:
			return 'inboxd answered ' + status + ': ' + message + '.';
		}
	}

	/*
	 * A function that runs the async functions given to it in order, one
	 * at a time, and returns the promise of each (what is sent to one
	 * peer must arrive in the order it was sent).
	 */
	function queue() {
		let tail = Promise.resolve();

		return (fn) => {
			const p = tail.then(fn);

			tail = p.catch(() => {});
			return p;
		};
	}

	/*
	 * The page and its inbox.  cfg:
	 *   record       the page's object for scripts and tests (state,
	 *                sentCandidates, skippedCandidates)
	 *   log          what starts each Progress line on the console
	 *   keep         keep this many Progress lines at most, in a list that
	 *                scrolls itself (default: all, and the page scrolls)
	 *   onMessage    (headers, text): a message from our inbox, once for
	 *                each X-Message-Id
	 *   onStop       (): what else to undo when the page stops
	 *   onRecover    (): inboxd answers again after a failure
	 *   unreachable  what may be wrong when inboxd cannot be reached
	 *   fetch        more options for every fetch()
	 */
	function page(cfg) {
		const t0 = performance.now();
		const params = new URLSearchParams(location.search);
		const seen = new Set();		/* X-Message-Id already handled */
		let troubled = false;		/* a request is being retried */
		let poller = null;		/* AbortController of the poll */

		const p = {
			params,
			server: '',		/* inboxd, without a final / */
			auth: '',		/* our Authorization header */
			iceServers: [],
			loopbackOnly: params.get('candidates') === 'loopback',
			stopped: false,		/* the page gave up, or is closing */
		};

		/* ---- what the person sees ---- */

		p.step = (text, kind) => {
			const list = $('status');
			const li = document.createElement('li');
			const t = document.createElement('span');

			li.className = kind || 'info';
			t.className = 't';
			t.textContent = ((performance.now() - t0) / 1000)
			    .toFixed(1) + ' s';
			li.append(t, document.createTextNode(text));
			list.append(li);
			if (cfg.keep) {
				while (list.children.length > cfg.keep)
					list.firstChild.remove();
				list.scrollTop = list.scrollHeight;
			} else {
				li.scrollIntoView({ block: 'nearest' });
			}
			console.log(cfg.log + text);
		};

		p.setState = (state, label) => {
			cfg.record.state = state;
			document.body.dataset.state = state;
			$('state').textContent = label;
		};

		p.showError = (text, kind) => {
			const e = $('error');

			e.textContent = text;
			e.className = kind === 'warn' ? 'error warn' : 'error';
			e.hidden = false;
		};

		p.clearError = () => {
			$('error').hidden = true;
			$('error').textContent = '';
		};

		/* Stop for good: say why, in state, and offer to start over. */
		p.end = (text, kind, state, label) => {
			if (p.stopped)
				return;
			p.step(text, kind);
			p.showError(text, kind);
			p.setState(state, label);
			p.stop();
			$('restart').hidden = false;
		};

		/* Something went wrong that retrying will not fix. */
		p.fatal = (text) => p.end(text, 'error', 'failed', 'failed');

		p.stop = () => {
			p.stopped = true;
			if (poller)
				poller.abort();
			if (cfg.onStop)
				cfg.onStop();
		};

		/* ---- settings ---- */

		/* The inboxd field and ?ice=; false (and said) if wrong. */
		p.readSettings = () => {
			let url;

			try {
				url = new URL($('server').value.trim());
			} catch (e) {
				p.showError('The inboxd server is not a URL: ' +
				    $('server').value);
				return false;
			}
			if (url.protocol !== 'http:' && url.protocol !== 'https:') {
				p.showError('The inboxd server must be an http: ' +
				    'or https: URL.');
				return false;
			}
			p.server = url.href.replace(/\/+$/, '');
			try {
				p.iceServers = parseIce(params.get('ice'));
			} catch (e) {
				p.showError('?ice= is neither URLs nor a JSON ' +
				    'array: ' + e.message);
				return false;
			}
			return true;
		};

		/* A random inbox name (prefix + 16 hex digits) and password. */
		p.newInbox = (prefix) => {
			const name = prefix + randomHex(8);

			p.auth = 'Basic ' + base64(name + ':' + randomHex(16));
			$('my-name').textContent = name;
			return name;
		};

		/* ---- inboxd ---- */

		function trouble(text) {
			if (p.stopped)
				return;
			if (!troubled)
				p.step(text, 'warn');
			troubled = true;
			p.showError(text, 'warn');
		}

		/*
		 * One request to inboxd, retried with backoff while the network
		 * fails (unless opts.once) or inboxd is busy (503, and 429
		 * unless opts.no429), so that a restarting server or a lost
		 * Wi-Fi only delays the page.  Returns the response, or null
		 * once the page stopped.
		 */
		p.request = async (method, path, opts, what) => {
			let delay = 1000;

			opts = opts || {};
			for (;;) {
				let res;

				if (p.stopped)
					return null;
				try {
					res = await fetch(p.server + path,
					    Object.assign({
						method,
						headers: Object.assign(
						    { Authorization: p.auth },
						    opts.headers),
						body: opts.body,
						signal: opts.signal,
					    }, cfg.fetch));
				} catch (e) {
					if (e.name === 'AbortError' || opts.once)
						return null;
					trouble(what + ': cannot reach inboxd at ' +
					    p.server + ' (' + e.message +
					    (cfg.unreachable ? '; ' +
					    cfg.unreachable : '') +
					    '). Retrying in ' + delay / 1000 +
					    ' s.');
					await sleep(delay);
					delay = Math.min(delay * 2, MAX_BACKOFF);
					continue;
				}
				if (res.status === 503 ||
				    (res.status === 429 && !opts.no429)) {
					const after = parseInt(
					    res.headers.get('Retry-After'), 10);
					const ms = after > 0 ? after * 1000 : delay;

					trouble(what + ': inboxd is busy (' +
					    res.status + ': ' +
					    await errorMessage(res) +
					    '). Retrying in ' + ms / 1000 + ' s.');
					await sleep(ms);
					delay = Math.min(delay * 2, MAX_BACKOFF);
					continue;
				}
				if (troubled) {
					troubled = false;
					p.clearError();
					p.step('inboxd answers again', 'ok');
					if (cfg.onRecover)
						cfg.onRecover();
				}
				return res;
			}
		};

		/* A message taken from our inbox, handled once. */
		p.receive = async (res) => {
			const id = res.headers.get('X-Message-Id');
			let text;

			try {
				text = await res.text();
			} catch (e) {
				return;	/* cut off: inboxd queues it again */
			}
			if (id !== null) {
				if (seen.has(id))
					return;
				seen.add(id);
			}
			cfg.onMessage(res.headers, text);
		};

		/*
		 * Long-poll our inbox (each GET held wait seconds) until the
		 * page stops, the poll is aborted, or more() says enough.
		 */
		p.poll = async (wait, more) => {
			poller = new AbortController();
			while (!p.stopped && (!more || more())) {
				const res = await p.request('GET',
				    '/inbox?wait=' + wait,
				    { signal: poller.signal },
				    'Waiting for messages');

				if (res === null)
					return;
				if (res.status === 204)
					continue;	/* nothing within wait s */
				if (res.status === 200) {
					await p.receive(res);
					continue;
				}
				p.fatal('Waiting for messages: ' +
				    explain(res.status, await errorMessage(res)));
				return;
			}
		};

		p.stopPolling = () => {
			if (poller)
				poller.abort();
		};

		/* The JSON of a message, or undefined (and said) if it is not. */
		p.parseJson = (from, text) => {
			try {
				return JSON.parse(text);
			} catch (e) {
				p.step('Ignored a message from ' + from +
				    ' that is not JSON', 'warn');
				return undefined;
			}
		};

		/* POST obj as JSON to the inbox of to. */
		p.postJson = (to, obj, what) => p.request('POST', '/inbox?to=' +
		    encodeURIComponent(to), {
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(obj),
		}, what);

		/* ---- WebRTC ---- */

		/*
		 * Whether to send our candidate c: with ?candidates=loopback
		 * only those on 127.0.0.1.  Its address goes to the record's
		 * sentCandidates or skippedCandidates.
		 */
		p.sendable = (c) => {
			const addr = candidateAddress(c);

			if (p.loopbackOnly && addr !== '127.0.0.1') {
				cfg.record.skippedCandidates.push(addr);
				return false;
			}
			cfg.record.sentCandidates.push(addr);
			return true;
		};

		/* With ?candidates=loopback, keep only 127.0.0.1 in an SDP. */
		p.filterSdp = (sdp) => {
			if (!p.loopbackOnly)
				return sdp;
			return sdp.split('\r\n').filter((line) =>
			    !line.startsWith('a=candidate:') ||
			    line.split(' ')[4] === '127.0.0.1').join('\r\n');
		};

		if (params.get('server'))
			$('server').value = params.get('server');
		return p;
	}

	return {
		$, show, sleep, randomHex, base64, parseIce, candidateAddress,
		errorMessage, explain, queue, page,
	};
})();

/*
 * page.js - what the example pages of inboxd share, beside the client of
 * inboxd itself (clients/js/inboxd.js): the Progress list and the error
 * line, the settings (the inboxd field, ?server=, ?ice=, ?candidates=),
 * a random inbox name and password, how to tell a person what inboxd
 * answered, and the loopback filter of ICE candidates for the tests.
 *
 * A page imports it beside the client, from a server that serves the top
 * of the tree (examples/ and clients/ both):
 *
 *     <script type="module" src="app.js"></script>
 *
 *     import { Inbox } from '../../clients/js/inboxd.js';
 *     import { page } from '../lib/page.js';
 *
 * The page must have the elements #server (the inboxd field), #status
 * (the Progress list), #state, #error, #my-name and #restart.
 *
 * Plain JavaScript, no framework, no build step.
 */

export const $ = (id) => document.getElementById(id);

export function show(id, visible) {
	$(id).hidden = !visible;
}

export function randomHex(bytes) {
	const a = new Uint8Array(bytes);

	crypto.getRandomValues(a);
	return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

/* ?ice=: STUN/TURN URLs separated by commas, or RTCIceServer JSON. */
export function parseIce(text) {
	if (!text)
		return null;
	if (text.trim().startsWith('['))
		return JSON.parse(text);
	return [{ urls: text.split(',').map((u) => u.trim()).filter(Boolean) }];
}

/* The IP address of a candidate, from its fields or its line. */
export function candidateAddress(c) {
	if (c.address)
		return c.address;
	const f = (c.candidate || '').split(' ');
	return f.length > 5 ? f[4] : '';
}

/* What an InboxdError (or another error) means, for a person. */
export function explain(e) {
	const status = e && e.status;
	const detail = e && (e.detail || e.message);

	switch (status) {
	case 0:
		return 'inboxd cannot be reached (' + detail + ').';
	case 400:
		return 'inboxd refused the request (400: ' + detail + ').';
	case 401:
		return 'inboxd refused this page\'s credentials (401: ' + detail +
		    '). Start over to get a new inbox.';
	case 404:
		return 'Not found (404: ' + detail + ').';
	case 413:
		return 'The message is too large for inboxd (413).';
	case undefined:
		return 'Unexpected error: ' + detail;
	default:
		return 'inboxd answered ' + status + ': ' + detail + '.';
	}
}

/*
 * A function that runs the async functions given to it in order, one at a
 * time, and returns the promise of each (what is sent to one peer must
 * arrive in the order it was sent).
 */
export function queue() {
	let tail = Promise.resolve();

	return (fn) => {
		const p = tail.then(fn);

		tail = p.catch(() => {});
		return p;
	};
}

/*
 * The page.  cfg:
 *   record       the page's object for scripts and tests (state,
 *                sentCandidates, skippedCandidates)
 *   log          what starts each Progress line on the console
 *   keep         keep this many Progress lines at most, in a list that
 *                scrolls itself (default: all, and the page scrolls)
 *   onStop       (): what else to undo when the page stops
 *   onRecover    (): inboxd answers again after a failure
 *   unreachable  what may be wrong when inboxd cannot be reached
 */
export function page(cfg) {
	const t0 = performance.now();
	const params = new URLSearchParams(location.search);
	let troubled = false;		/* a request is being retried */

	const p = {
		params,
		server: '',		/* inboxd, without a final / */
		iceServers: null,	/* from ?ice=, or null: ask inboxd */
		loopbackOnly: params.get('candidates') === 'loopback',
		/* ?policy=relay: connect through TURN only (RTCIceTransportPolicy) */
		policy: params.get('policy') === 'relay' ? 'relay' : 'all',
		stopped: false,		/* the page gave up, or is closing */
	};

	/* ---- what the person sees ---- */

	p.step = (text, kind) => {
		const list = $('status');
		const li = document.createElement('li');
		const t = document.createElement('span');

		li.className = kind || 'info';
		t.className = 't';
		t.textContent = ((performance.now() - t0) / 1000).toFixed(1) +
		    ' s';
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
			p.showError('The inboxd server must be an http: or ' +
			    'https: URL.');
			return false;
		}
		p.server = url.href.replace(/\/+$/, '');
		try {
			p.iceServers = parseIce(params.get('ice'));
		} catch (e) {
			p.showError('?ice= is neither URLs nor a JSON array: ' +
			    e.message);
			return false;
		}
		return true;
	};

	/* A random inbox name (prefix + 16 hex digits) and password. */
	p.newInbox = (prefix) => {
		const name = prefix + randomHex(8);

		$('my-name').textContent = name;
		return { user: name, password: randomHex(16) };
	};

	/* ---- what the client of inboxd tells ---- */

	/* Its onRetry: a request failed and is tried again. */
	p.retrying = (info) => {
		if (p.stopped)
			return;
		const text = info.request + ': ' + (info.status === 0 ?
		    'cannot reach inboxd at ' + p.server + ' (' +
		    info.error.detail + (cfg.unreachable ? '; ' +
		    cfg.unreachable : '') + ')' : 'inboxd is busy (' +
		    info.status + ': ' + info.error.detail + ')') +
		    '. Retrying in ' + (info.delay / 1000).toFixed(1) + ' s.';

		if (!troubled)
			p.step(text, 'warn');
		troubled = true;
		p.showError(text, 'warn');
	};

	/* Its onRecover: inboxd answers again. */
	p.recovered = () => {
		if (!troubled)
			return;
		troubled = false;
		p.clearError();
		p.step('inboxd answers again', 'ok');
		if (cfg.onRecover)
			cfg.onRecover();
	};

	/* The JSON of a message, or undefined (and said) if it is not. */
	p.parseJson = (m) => {
		try {
			if (typeof m.body !== 'string')
				throw new Error('bytes');
			return JSON.parse(m.body);
		} catch (e) {
			p.step('Ignored a message from ' + m.from +
			    ' that is not JSON', 'warn');
			return undefined;
		}
	};

	/* ---- WebRTC ---- */

	/*
	 * Whether to send our candidate c: with ?candidates=loopback only
	 * those on 127.0.0.1.  Its address goes to the record's
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

/*
 * app.js - two browsers pair through inboxd with a PIN, exchange an SDP
 * offer and answer and their ICE candidates through each other's inbox,
 * and then chat over a WebRTC data channel that inboxd never sees.
 *
 * Side A ("Show a PIN") asks inboxd for a PIN naming its inbox; side B
 * ("Enter a PIN") sends a hello with that PIN and learns A's name from the
 * X-To header of the answer, while A learns B's name from the X-From of
 * the hello.  B then makes the offer, A the answer, and both trickle
 * their candidates.  Every message is JSON: {type:"hello"},
 * {type:"offer",sdp}, {type:"answer",sdp}, {type:"candidate",candidate}.
 *
 * Query parameters:
 *   server=URL            inboxd (default: the field, http://127.0.0.1:8080)
 *   ice=URL,URL           STUN/TURN URLs for the RTCPeerConnection, or a
 *                         JSON array of RTCIceServer (default: none, which
 *                         is enough on one machine or one LAN)
 *   candidates=loopback   send only candidates on 127.0.0.1 (tests)
 *
 * Plain JavaScript, no framework, no build step.
 */
'use strict';

(function () {
	const WAIT = 25;		/* seconds a GET /inbox is held */
	const MAX_BACKOFF = 30000;	/* ms between retries, at most */
	const MAX_CHAT = 4000;		/* characters in one chat message */

	const params = new URLSearchParams(location.search);
	const $ = (id) => document.getElementById(id);
	const t0 = performance.now();

	/* What the page did, for a person reading the console or a test. */
	const demo = window.inboxdDemo = {
		role: null,		/* "show" or "enter" */
		name: null,		/* our inbox */
		peer: null,		/* the other side's inbox */
		state: 'start',
		timings: {},		/* epoch ms: paired, open */
		sentCandidates: [],	/* addresses of the candidates sent */
		skippedCandidates: [],	/* and of those not sent */
		chat: [],
	};

	let server = '';
	let auth = '';
	let iceServers = [];
	const loopbackOnly = params.get('candidates') === 'loopback';
	let poller = null;		/* AbortController of the poll loop */
	let stopped = false;		/* the page gave up, or is closing */
	let signalingDone = false;	/* the data channel is open */
	let pc = null;
	let channel = null;
	let pendingCandidates = [];	/* received before the remote SDP */
	let sendChain = Promise.resolve();
	const seen = new Set();		/* X-Message-Id already handled */
	let troubled = false;
	let pinTimer = null;

	/* ---- what the person sees ---- */

	function step(text, kind) {
		const li = document.createElement('li');
		const t = document.createElement('span');

		li.className = kind || 'info';
		t.className = 't';
		t.textContent = ((performance.now() - t0) / 1000).toFixed(1) + ' s';
		li.append(t, document.createTextNode(text));
		$('status').append(li);
		li.scrollIntoView({ block: 'nearest' });
		console.log('[inboxd-demo] ' + text);
	}

	function setState(state, label) {
		demo.state = state;
		document.body.dataset.state = state;
		$('state').textContent = label;
	}

	function showError(text, kind) {
		const e = $('error');

		e.textContent = text;
		e.className = kind === 'warn' ? 'error warn' : 'error';
		e.hidden = false;
	}

	function clearError() {
		$('error').hidden = true;
		$('error').textContent = '';
	}

	/* Something went wrong that retrying will not fix. */
	function fatal(text) {
		if (stopped)
			return;
		step(text, 'error');
		showError(text);
		setState('failed', 'failed');
		stop();
		$('restart').hidden = false;
	}

	function stop() {
		stopped = true;
		if (poller)
			poller.abort();
		if (pinTimer)
			clearInterval(pinTimer);
	}

	function show(id, visible) {
		$(id).hidden = !visible;
	}

	function sleep(ms) {
		return new Promise((resolve) => setTimeout(resolve, ms));
	}

	/* ---- settings ---- */

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

	function parseIce(text) {
		if (!text)
			return [];
		if (text.trim().startsWith('['))
			return JSON.parse(text);
		return [{ urls: text.split(',').map((u) => u.trim())
		    .filter(Boolean) }];
	}

	function readSettings() {
		let url;

		try {
			url = new URL($('server').value.trim());
		} catch (e) {
			showError('The inboxd server is not a URL: ' +
			    $('server').value);
			return false;
		}
		if (url.protocol !== 'http:' && url.protocol !== 'https:') {
			showError('The inboxd server must be an http: or https: URL.');
			return false;
		}
		server = url.href.replace(/\/+$/, '');
		try {
			iceServers = parseIce(params.get('ice'));
		} catch (e) {
			showError('?ice= is neither URLs nor a JSON array: ' +
			    e.message);
			return false;
		}
		return true;
	}

	/* ---- inboxd ---- */

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
		case 413:
			return 'The message is too large for inboxd (413).';
		default:
			return 'inboxd answered ' + status + ': ' + message + '.';
		}
	}

	/*
	 * One request to inboxd, retried with backoff while the network
	 * fails or inboxd is busy (503, and 429 unless opts.no429), so that
	 * a restarting server or a lost Wi-Fi only delays the pairing.
	 * Returns the response, or null once the page stopped.
	 */
	async function request(method, path, opts, what) {
		let delay = 1000;

		opts = opts || {};
		for (;;) {
			let res;

			if (stopped)
				return null;
			try {
				res = await fetch(server + path, {
					method,
					headers: Object.assign(
					    { Authorization: auth }, opts.headers),
					body: opts.body,
					signal: opts.signal,
					cache: 'no-store',
				});
			} catch (e) {
				if (e.name === 'AbortError')
					return null;
				trouble(what + ': cannot reach inboxd at ' +
				    server + ' (' + e.message + '; a wrong ' +
				    'address, a server that is down, or one ' +
				    'that does not allow this origin). Retrying ' +
				    'in ' + delay / 1000 + ' s.');
				await sleep(delay);
				delay = Math.min(delay * 2, MAX_BACKOFF);
				continue;
			}
			if (res.status === 503 ||
			    (res.status === 429 && !opts.no429)) {
				const after = parseInt(
				    res.headers.get('Retry-After'), 10);
				const wait = after > 0 ? after * 1000 : delay;

				trouble(what + ': inboxd is busy (' + res.status +
				    ': ' + await errorMessage(res) +
				    '). Retrying in ' + wait / 1000 + ' s.');
				await sleep(wait);
				delay = Math.min(delay * 2, MAX_BACKOFF);
				continue;
			}
			if (troubled) {
				troubled = false;
				clearError();
				step('inboxd answers again', 'ok');
			}
			return res;
		}
	}

	function trouble(text) {
		if (stopped)
			return;
		if (!troubled)
			step(text, 'warn');
		troubled = true;
		showError(text, 'warn');
	}

	/* The first request of a name creates its inbox (Argon2id, slow). */
	async function firstContact() {
		step('Creating our inbox ' + demo.name + ' on ' + server);
		const res = await request('GET', '/inbox?wait=0', {},
		    'Creating our inbox');

		if (res === null)
			return false;
		if (res.status === 204) {
			step('Inbox ready', 'ok');
			return true;
		}
		if (res.status === 200) {	/* cannot be, but do not lose it */
			await receive(res);
			return true;
		}
		fatal('Creating our inbox: ' +
		    explain(res.status, await errorMessage(res)));
		return false;
	}

	async function receive(res) {
		const from = res.headers.get('X-From');
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
		handleMessage(from, text);
	}

	/* Long-poll our inbox until the data channel is open. */
	async function pollLoop() {
		poller = new AbortController();
		while (!stopped && !signalingDone) {
			const res = await request('GET', '/inbox?wait=' + WAIT,
			    { signal: poller.signal }, 'Waiting for messages');

			if (res === null)
				return;
			if (res.status === 204)
				continue;	/* nothing within WAIT s */
			if (res.status === 200) {
				await receive(res);
				continue;
			}
			fatal('Waiting for messages: ' +
			    explain(res.status, await errorMessage(res)));
			return;
		}
	}

	/* Send obj as JSON to the peer, in order, one at a time. */
	function sendToPeer(obj, what) {
		const p = sendChain.then(async () => {
			const res = await request('POST', '/inbox?to=' +
			    encodeURIComponent(demo.peer), {
				headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify(obj),
			}, what);

			if (res === null || res.status === 204)
				return;
			if (res.status === 404) {
				fatal(what + ': the other side\'s inbox is ' +
				    'gone (its page was closed, or it waited ' +
				    'too long). Start over on both sides.');
				return;
			}
			fatal(what + ': ' +
			    explain(res.status, await errorMessage(res)));
		});

		sendChain = p.catch(() => {});
		return p;
	}

	/* ---- pairing ---- */

	function paired(peer, how) {
		demo.peer = peer;
		demo.timings.paired = Date.now();
		$('peer-name').textContent = peer;
		if (pinTimer)
			clearInterval(pinTimer);
		show('pin-show', false);
		show('pin-enter', false);
		show('chat', true);
		setState('paired', 'paired');
		step('Paired with ' + peer + ' (' + how + ')', 'ok');
	}

	/* Side A: show a PIN, renewed while nobody used it. */
	async function startShow() {
		demo.role = 'show';
		show('pin-show', true);
		setState('pin', 'getting a PIN');
		if (!await firstContact())
			return;
		pollLoop();
		await newPin();
	}

	async function newPin() {
		const res = await request('POST', '/pin', {}, 'Asking for a PIN');

		if (res === null || demo.peer !== null)
			return;
		if (res.status !== 201) {
			fatal('Asking for a PIN: ' +
			    explain(res.status, await errorMessage(res)));
			return;
		}
		const { pin, expires_in: ttl } = await res.json();
		const deadline = performance.now() + ttl * 1000;

		$('pin').textContent = pin.length > 4 ?
		    pin.slice(0, Math.ceil(pin.length / 2)) + '\u2009' +
		    pin.slice(Math.ceil(pin.length / 2)) : pin;
		$('pin').dataset.pin = pin;
		setState('pin', 'waiting for the other side');
		step('PIN ' + pin + ' from inboxd, valid ' + ttl + ' s');
		const tick = () => {
			const left = Math.max(0,
			    Math.round((deadline - performance.now()) / 1000));

			$('pin-expiry').textContent = 'Valid for ' + left +
			    ' more second' + (left === 1 ? '' : 's') + '.';
			if (left === 0 && demo.peer === null && !stopped) {
				clearInterval(pinTimer);
				step('The PIN expired unused; asking for another');
				newPin();
			}
		};
		if (pinTimer)
			clearInterval(pinTimer);
		pinTimer = setInterval(tick, 1000);
		tick();
	}

	/* Side B: type the PIN, say hello through it. */
	async function startEnter() {
		demo.role = 'enter';
		show('pin-enter', true);
		setState('enter', 'creating the inbox');
		$('pin-submit').disabled = true;
		if (!await firstContact())
			return;
		pollLoop();
		setState('enter', 'waiting for the PIN');
		$('pin-submit').disabled = false;
		$('pin-input').focus();
	}

	async function submitPin(ev) {
		ev.preventDefault();
		const pin = $('pin-input').value.replace(/\s+/g, '');

		if (!/^[0-9]{4,9}$/.test(pin)) {
			showError('A PIN is 4 to 9 digits.', 'warn');
			return;
		}
		clearError();
		$('pin-submit').disabled = true;
		step('Sending hello with PIN ' + pin);
		const res = await request('POST', '/inbox', {
			headers: { 'Content-Type': 'application/json',
			    'X-PIN': pin },
			body: JSON.stringify({ type: 'hello' }),
			no429: true,
		}, 'Sending hello');

		if (res === null)
			return;
		if (res.status === 204 && res.headers.get('X-To')) {
			paired(res.headers.get('X-To'), 'its PIN reached it');
			await call();
			return;
		}
		$('pin-submit').disabled = false;
		if (res.status === 404) {
			const text = 'No inbox has the PIN ' + pin + ': it is ' +
			    'mistyped, used already or expired. Check it, or ' +
			    'wait for the next one on the other side.';
			step(text, 'warn');
			showError(text, 'warn');
			return;
		}
		if (res.status === 429) {
			const after = res.headers.get('Retry-After') || '60';
			const text = 'Too many wrong PINs or passwords from ' +
			    'this address: inboxd refuses them for ' + after +
			    ' s.';
			step(text, 'warn');
			showError(text, 'warn');
			return;
		}
		if (res.status === 204) {
			fatal('inboxd accepted the PIN but did not say whose ' +
			    'it is: its Access-Control-Expose-Headers lacks X-To.');
			return;
		}
		fatal('Sending hello: ' +
		    explain(res.status, await errorMessage(res)));
	}

	/* ---- messages from the other side ---- */

	function handleMessage(from, text) {
		let msg;

		try {
			msg = JSON.parse(text);
		} catch (e) {
			step('Ignored a message from ' + from +
			    ' that is not JSON', 'warn');
			return;
		}
		if (demo.peer === null) {
			if (demo.role === 'show' && msg.type === 'hello') {
				paired(from, 'it used our PIN');
				return;
			}
			step('Ignored a ' + msg.type + ' from ' + from +
			    ' before pairing', 'warn');
			return;
		}
		if (from !== demo.peer) {
			step('Ignored a message from ' + from +
			    ', who is not our peer', 'warn');
			return;
		}
		switch (msg.type) {
		case 'offer':
			answer(msg.sdp).catch((e) =>
			    fatal('Answering the offer: ' + e.message));
			break;
		case 'answer':
			step('Answer received', 'ok');
			pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp })
			    .then(flushCandidates)
			    .catch((e) => fatal('Applying the answer: ' +
			    e.message));
			break;
		case 'candidate':
			addCandidate(msg.candidate);
			break;
		case 'hello':
			break;
		default:
			step('Ignored a message of type ' + msg.type, 'warn');
		}
	}

	/* ---- WebRTC ---- */

	/* The IP address of a candidate, from its fields or its line. */
	function candidateAddress(c) {
		if (c.address)
			return c.address;
		const f = (c.candidate || '').split(' ');
		return f.length > 5 ? f[4] : '';
	}

	function describeCandidate(c) {
		const f = (c.candidate || '').split(' ');
		const type = f.indexOf('typ') >= 0 ? f[f.indexOf('typ') + 1] : '?';

		return (f[2] || '').toLowerCase() + ' ' + candidateAddress(c) +
		    ':' + (f[5] || '?') + ' (' + type + ')';
	}

	/* With candidates=loopback, keep only 127.0.0.1 in an SDP. */
	function filterSdp(sdp) {
		if (!loopbackOnly)
			return sdp;
		return sdp.split('\r\n').filter((line) =>
		    !line.startsWith('a=candidate:') ||
		    line.split(' ')[4] === '127.0.0.1').join('\r\n');
	}

	function makePeerConnection() {
		step('Creating the RTCPeerConnection (' + (iceServers.length ?
		    'ICE servers ' + JSON.stringify(iceServers) :
		    'no STUN/TURN: host candidates only') +
		    (loopbackOnly ? ', loopback candidates only' : '') + ')');
		pc = new RTCPeerConnection({ iceServers });
		pc.onicecandidate = (ev) => {
			const c = ev.candidate;

			if (!c || !c.candidate) {
				step('All our ICE candidates are gathered');
				return;
			}
			const addr = candidateAddress(c);
			if (loopbackOnly && addr !== '127.0.0.1') {
				demo.skippedCandidates.push(addr);
				return;
			}
			demo.sentCandidates.push(addr);
			step('Sending ICE candidate ' + describeCandidate(c));
			sendToPeer({ type: 'candidate', candidate: c.toJSON() },
			    'Sending an ICE candidate');
		};
		pc.oniceconnectionstatechange = () => {
			const s = pc.iceConnectionState;
			step('ICE state: ' + s, s === 'connected' ||
			    s === 'completed' ? 'ok' : s === 'failed' ||
			    s === 'disconnected' ? 'warn' : 'info');
		};
		pc.onconnectionstatechange = () => {
			const s = pc.connectionState;
			step('Connection state: ' + s,
			    s === 'connected' ? 'ok' : s === 'failed' ? 'error' :
			    'info');
			if (s === 'failed' && demo.state !== 'connected')
				fatal('The direct connection failed: no pair of ' +
				    'ICE candidates worked. Across NATs, give a ' +
				    'STUN server with ?ice=stun:HOST:PORT (or a ' +
				    'TURN server).');
		};
		pc.ondatachannel = (ev) => setupChannel(ev.channel);
	}

	/* Side B: make the offer. */
	async function call() {
		makePeerConnection();
		setupChannel(pc.createDataChannel('chat'));
		await pc.setLocalDescription(await pc.createOffer());
		setState('signaling', 'offer sent');
		step('Sending the SDP offer');
		await sendToPeer({ type: 'offer',
		    sdp: filterSdp(pc.localDescription.sdp) },
		    'Sending the offer');
		if (!stopped)
			step('Offer sent', 'ok');
	}

	/* Side A: answer the offer. */
	async function answer(sdp) {
		step('Offer received', 'ok');
		if (pc === null)
			makePeerConnection();
		await pc.setRemoteDescription({ type: 'offer', sdp });
		flushCandidates();
		await pc.setLocalDescription(await pc.createAnswer());
		setState('signaling', 'answer sent');
		step('Sending the SDP answer');
		await sendToPeer({ type: 'answer',
		    sdp: filterSdp(pc.localDescription.sdp) },
		    'Sending the answer');
		if (!stopped)
			step('Answer sent', 'ok');
	}

	function addCandidate(c) {
		if (!c || !c.candidate)
			return;
		step('Received ICE candidate ' + describeCandidate(c));
		if (pc === null || pc.remoteDescription === null) {
			pendingCandidates.push(c);
			return;
		}
		pc.addIceCandidate(c).catch((e) =>
		    step('A received candidate was refused: ' + e.message,
		    'warn'));
	}

	function flushCandidates() {
		const list = pendingCandidates;

		pendingCandidates = [];
		list.forEach(addCandidate);
	}

	/* ---- chat ---- */

	function setupChannel(ch) {
		channel = ch;
		ch.onopen = () => {
			const ms = Date.now() - demo.timings.paired;

			demo.timings.open = Date.now();
			step('Connected: data channel "' + ch.label + '" open ' +
			    ms + ' ms after pairing', 'ok');
			setState('connected', 'connected');
			clearError();
			$('chat-input').disabled = false;
			$('chat-send').disabled = false;
			$('chat-input').focus();
			/* Signaling is over: inboxd has served its purpose. */
			signalingDone = true;
			if (poller)
				poller.abort();
			step('Signaling done; our inbox on inboxd expires by ' +
			    'itself');
		};
		ch.onmessage = (ev) => addChat('peer', String(ev.data));
		ch.onclose = () => {
			if (demo.state !== 'connected')
				return;
			step('The other side left: data channel closed', 'warn');
			setState('closed', 'disconnected');
			$('chat-input').disabled = true;
			$('chat-send').disabled = true;
			$('restart').hidden = false;
		};
	}

	function addChat(who, text) {
		const li = document.createElement('li');
		const name = document.createElement('span');

		li.className = who;
		name.className = 'who';
		name.textContent = who === 'me' ? 'You' : 'Peer';
		li.append(name, document.createTextNode(text));
		$('messages').append(li);
		li.scrollIntoView({ block: 'nearest' });
		demo.chat.push({ who, text });
	}

	function sendChat(ev) {
		ev.preventDefault();
		const text = $('chat-input').value.slice(0, MAX_CHAT);

		if (!text.trim() || !channel || channel.readyState !== 'open')
			return;
		channel.send(text);
		addChat('me', text);
		$('chat-input').value = '';
	}

	/* ---- start ---- */

	function begin(role) {
		clearError();
		if (!readSettings())
			return;
		demo.name = 'webrtc-' + randomHex(8);
		auth = 'Basic ' + base64(demo.name + ':' + randomHex(16));
		$('my-name').textContent = demo.name;
		show('setup', false);
		(role === 'show' ? startShow() : startEnter()).catch((e) =>
		    fatal('Unexpected error: ' + e.message));
	}

	if (params.get('server'))
		$('server').value = params.get('server');
	$('show-pin').addEventListener('click', () => begin('show'));
	$('enter-pin').addEventListener('click', () => begin('enter'));
	$('pin-form').addEventListener('submit', (ev) =>
	    submitPin(ev).catch((e) => fatal('Unexpected error: ' +
	    e.message)));
	$('chat-form').addEventListener('submit', sendChat);
	$('restart').addEventListener('click', () => location.reload());
	window.addEventListener('pagehide', () => {
		stop();
		if (pc)
			pc.close();
	});
	if (typeof RTCPeerConnection === 'undefined')
		showError('This browser has no WebRTC (RTCPeerConnection).');
	setState('start', 'not started');
})();

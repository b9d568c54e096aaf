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
 *                         JSON array of RTCIceServer (default: what inboxd
 *                         offers at GET /ice, if anything; none is enough
 *                         on one machine or one LAN)
 *   candidates=loopback   send only candidates on 127.0.0.1 (tests)
 *   policy=relay          connect through a TURN relay only
 *                         (iceTransportPolicy 'relay')
 *
 * Plain JavaScript, no framework, no build step.  All that talks to
 * inboxd (Basic auth, retries, the receive loop with its batches and
 * acknowledgements) is the client in ../../clients/js/inboxd.js; the
 * Progress list and the settings are shared with the other examples in
 * ../lib/page.js.
 */
import { Inbox } from '../../clients/js/inboxd.js';
import * as Page from '../lib/page.js';

(function () {
	const WAIT = 25;		/* seconds a GET /inbox is held */
	const MAX_CHAT = 4000;		/* characters in one chat message */

	const $ = Page.$;
	const show = Page.show;

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

	let pc = null;
	let channel = null;
	let pendingCandidates = [];	/* received before the remote SDP */
	const inOrder = Page.queue();	/* what we send to the peer */
	let pinTimer = null;
	let inbox = null;		/* our inbox on inboxd */
	let receiving = null;		/* AbortController of the loop */
	let ice = null;			/* the promise of the ICE servers */

	const page = Page.page({
		record: demo,
		log: '[inboxd-demo] ',
		onStop: () => {
			if (pinTimer)
				clearInterval(pinTimer);
			if (inbox)
				inbox.stop();
		},
		unreachable: 'a wrong address, a server that is down, or one ' +
		    'that does not allow this origin',
	});
	const { step, setState, showError, clearError, fatal } = page;

	/* Our inbox: a random name and password; the first request makes it. */
	function openInbox() {
		const cred = page.newInbox('webrtc-');

		demo.name = cred.user;
		inbox = new Inbox({
			url: page.server,
			user: cred.user,
			password: cred.password,
			wait: WAIT,
			onRetry: page.retrying,
			onRecover: page.recovered,
		});
		step('Our inbox is ' + demo.name + ' on ' + page.server);
	}

	/* ?ice=, or what inboxd offers (GET /ice), asked for once. */
	function iceServers() {
		if (ice === null)
			ice = page.iceServers !== null ?
			    Promise.resolve(page.iceServers) :
			    inbox.iceServers().catch((e) => {
				step('No ICE servers from inboxd (' +
				    Page.explain(e) + ')', 'warn');
				return [];
			    });
		return ice;
	}

	/*
	 * Receive until the data channel is open: each message once, in
	 * order, bursts in one request (clients/js/inboxd.js).
	 */
	async function receive() {
		receiving = new AbortController();
		try {
			for await (const m of inbox.messages(
			    { signal: receiving.signal }))
				handleMessage(m);
		} catch (e) {
			if (!page.stopped)
				fatal('Waiting for messages: ' + Page.explain(e));
		}
	}

	/* Send obj as JSON to the peer, in order, one at a time. */
	function sendToPeer(obj, what) {
		return inOrder(async () => {
			if (page.stopped)
				return;
			try {
				await inbox.send(demo.peer, obj);
			} catch (e) {
				if (e.name === 'AbortError')
					return;
				if (e.status === 404)
					fatal(what + ': the other side\'s inbox ' +
					    'is gone (its page was closed, or it ' +
					    'waited too long). Start over on both ' +
					    'sides.');
				else
					fatal(what + ': ' + Page.explain(e));
			}
		});
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
		/* The PIN's request is the first: it makes our inbox. */
		if (!await newPin())
			return;
		receive();
		iceServers();
	}

	async function newPin() {
		let r;

		step('Asking inboxd for a PIN');
		try {
			r = await inbox.pin();
		} catch (e) {
			if (e.name !== 'AbortError')
				fatal('Asking for a PIN: ' + Page.explain(e));
			return false;
		}
		if (demo.peer !== null)
			return true;
		const { pin, expiresIn: ttl } = r;
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
			if (left === 0 && demo.peer === null && !page.stopped) {
				clearInterval(pinTimer);
				step('The PIN expired unused; asking for another');
				newPin();
			}
		};
		if (pinTimer)
			clearInterval(pinTimer);
		pinTimer = setInterval(tick, 1000);
		tick();
		return true;
	}

	/*
	 * Side B: type the PIN, say hello through it.  The loop's first GET
	 * makes our inbox, or the hello does if it comes first.
	 */
	async function startEnter() {
		demo.role = 'enter';
		show('pin-enter', true);
		receive();
		iceServers();
		setState('enter', 'waiting for the PIN');
		$('pin-submit').disabled = false;
		$('pin-input').focus();
	}

	async function submitPin(ev) {
		ev.preventDefault();
		const pin = $('pin-input').value.replace(/\s+/g, '');
		let to;

		if (!/^[0-9]{4,9}$/.test(pin)) {
			showError('A PIN is 4 to 9 digits.', 'warn');
			return;
		}
		clearError();
		$('pin-submit').disabled = true;
		step('Sending hello with PIN ' + pin);
		try {
			to = await inbox.sendByPin(pin, { type: 'hello' });
		} catch (e) {
			if (e.name === 'AbortError')
				return;
			$('pin-submit').disabled = false;
			if (e.status === 404) {
				const text = 'No inbox has the PIN ' + pin +
				    ': it is mistyped, used already or ' +
				    'expired. Check it, or wait for the next ' +
				    'one on the other side.';
				step(text, 'warn');
				showError(text, 'warn');
			} else if (e.status === 429) {
				const text = 'Too many wrong PINs or passwords ' +
				    'from this address: inboxd refuses them ' +
				    'for ' + (e.retryAfter || 60) + ' s.';
				step(text, 'warn');
				showError(text, 'warn');
			} else if (e.code === 'bad_response') {
				fatal('inboxd accepted the PIN but did not say ' +
				    'whose it is: its ' +
				    'Access-Control-Expose-Headers lacks X-To.');
			} else {
				fatal('Sending hello: ' + Page.explain(e));
			}
			return;
		}
		paired(to, 'its PIN reached it');
		await call();
	}

	/* ---- messages from the other side ---- */

	function handleMessage(m) {
		const from = m.from;
		const msg = page.parseJson(m);

		if (msg === undefined)
			return;
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

	function describeCandidate(c) {
		const f = (c.candidate || '').split(' ');
		const type = f.indexOf('typ') >= 0 ? f[f.indexOf('typ') + 1] : '?';

		return (f[2] || '').toLowerCase() + ' ' +
		    Page.candidateAddress(c) +
		    ':' + (f[5] || '?') + ' (' + type + ')';
	}

	async function makePeerConnection() {
		const servers = await iceServers();

		step('Creating the RTCPeerConnection (' + (servers.length ?
		    'ICE servers ' + JSON.stringify(servers) :
		    'no STUN/TURN: host candidates only') +
		    (page.loopbackOnly ? ', loopback candidates only' : '') +
		    (page.policy === 'relay' ? ', relayed only' : '') + ')');
		pc = new RTCPeerConnection({ iceServers: servers,
		    iceTransportPolicy: page.policy });
		window.inboxdPeerConnection = pc; /* for getStats() in tests */
		pc.onicecandidate = (ev) => {
			const c = ev.candidate;

			if (!c || !c.candidate) {
				step('All our ICE candidates are gathered');
				return;
			}
			if (!page.sendable(c))
				return;
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
		await makePeerConnection();
		setupChannel(pc.createDataChannel('chat'));
		await pc.setLocalDescription(await pc.createOffer());
		setState('signaling', 'offer sent');
		step('Sending the SDP offer');
		await sendToPeer({ type: 'offer',
		    sdp: page.filterSdp(pc.localDescription.sdp) },
		    'Sending the offer');
		if (!page.stopped)
			step('Offer sent', 'ok');
	}

	/* Side A: answer the offer. */
	async function answer(sdp) {
		step('Offer received', 'ok');
		if (pc === null)
			await makePeerConnection();
		await pc.setRemoteDescription({ type: 'offer', sdp });
		flushCandidates();
		await pc.setLocalDescription(await pc.createAnswer());
		setState('signaling', 'answer sent');
		step('Sending the SDP answer');
		await sendToPeer({ type: 'answer',
		    sdp: page.filterSdp(pc.localDescription.sdp) },
		    'Sending the answer');
		if (!page.stopped)
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
			if (receiving)
				receiving.abort();
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
		if (!page.readSettings())
			return;
		openInbox();
		show('setup', false);
		(role === 'show' ? startShow() : startEnter()).catch((e) =>
		    fatal('Unexpected error: ' + e.message));
	}

	$('show-pin').addEventListener('click', () => begin('show'));
	$('enter-pin').addEventListener('click', () => begin('enter'));
	$('pin-form').addEventListener('submit', (ev) =>
	    submitPin(ev).catch((e) => fatal('Unexpected error: ' +
	    e.message)));
	$('chat-form').addEventListener('submit', sendChat);
	$('restart').addEventListener('click', () => location.reload());
	window.addEventListener('pagehide', () => {
		page.stop();
		if (pc)
			pc.close();
	});
	if (typeof RTCPeerConnection === 'undefined')
		showError('This browser has no WebRTC (RTCPeerConnection).');
	setState('start', 'not started');
})();

/*
 * app.js - a video conference on an inboxd room: every browser that opens
 * the meeting link joins the room and connects to every other member with
 * an RTCPeerConnection of its own (a full mesh); inboxd only carries the
 * room's events and the set-up messages, never the audio or the video.
 *
 * The first page (no #room in its address) creates the room, POST /rooms,
 * and shows a link whose fragment holds the room id and its join token:
 * #room=ID&token=TOKEN.  A page opened from the link joins, POST
 * /rooms/ROOM/members with X-Room-Token, learns the members from the
 * answer, and offers a connection to each of them; the members already
 * there hear of it from a "joined" event and answer.  Offers, answers and
 * ICE candidates go straight to the peer's inbox, POST /inbox?to=PEER, as
 * JSON: {room, type:"description", description:{type, sdp}},
 * {room, type:"candidate", candidate} and {room, type:"ping"}.  Both ends
 * of every pair follow the "perfect negotiation" pattern, so either may
 * (re)negotiate at any time: the one whose inbox name sorts first is the
 * polite one.
 *
 * Room events are ordinary messages with X-Room and X-Event headers:
 * "joined" adds a name to the list, "left" (the peer left, was removed,
 * or its inbox expired because its page stopped polling) removes its tile
 * and closes its connection, "closed" ends the meeting here.  On pagehide
 * the page leaves with DELETE /rooms/ROOM/members/ME (fetch keepalive);
 * when that never arrives the others still hear "left" once our inbox
 * expires.
 *
 * Query parameters:
 *   server=URL            inboxd (default: the field, http://127.0.0.1:8080)
 *   token=JWT             a Bearer token for inboxd (its sub is our name),
 *                         instead of a random name and password; it is
 *                         not passed on in the meeting link
 *   ice=URL,URL           STUN/TURN URLs for the RTCPeerConnections, or a
 *                         JSON array of RTCIceServer (default: what inboxd
 *                         offers at GET /ice, if anything)
 *   wait=SECONDS          how long each GET /inbox is held (default 25)
 *   candidates=loopback   send only candidates on 127.0.0.1 (tests)
 *
 * Plain JavaScript, no framework, no build step.  All that talks to
 * inboxd (auth, retries, rooms, the receive loop with its batches and
 * acknowledgements, leaving on pagehide) is the client in
 * ../../clients/js/inboxd.js; the Progress list and the settings are
 * shared with the other examples in ../lib/page.js.
 */
import { Inbox } from '../../clients/js/inboxd.js';
import * as Page from '../lib/page.js';

(function () {
	const DEFAULT_WAIT = 25;	/* seconds a GET /inbox is held */

	const fragment = new URLSearchParams(location.hash.slice(1));
	const $ = Page.$;
	const show = Page.show;
	const explain = Page.explain;

	/* What the page knows and did, for a person at the console or a test. */
	const conf = window.conference = {
		me: null,		/* our inbox name */
		room: null,
		creator: false,		/* we created the room */
		link: null,		/* the meeting link */
		state: 'start',		/* start, joining, in-room, closed, failed */
		members: [],		/* the room's members, in join order */
		events: [],		/* room events received, oldest first */
		lastLeft: null,		/* the body of the last "left" event */
		timings: {},		/* epoch ms: start, inRoom */
		videoPlaying: {},	/* peer -> epoch ms of its first frame */
		sentCandidates: [],	/* addresses of the candidates sent */
		skippedCandidates: [],	/* and of those not sent */
		/* The remote tiles and what their <video> shows. */
		remoteVideos() {
			return Array.from(tiles.values()).map((t) => {
				const v = t.video;
				const q = v.getVideoPlaybackQuality ?
				    v.getVideoPlaybackQuality() : null;

				return {
					peer: t.name,
					width: v.videoWidth,
					height: v.videoHeight,
					readyState: v.readyState,
					paused: v.paused,
					playing: conf.videoPlaying[t.name] !== undefined,
					frames: q ? q.totalVideoFrames : null,
					connection: links.has(t.name) ?
					    links.get(t.name).pc.connectionState :
					    'none',
				};
			});
		},
	};

	let token = null;		/* the room's join secret */
	let wait = DEFAULT_WAIT;
	let localStream = null;
	let left = false;		/* we told inboxd we left */
	let limbo = Promise.resolve();	/* messages from unknown senders */
	let inbox = null;		/* our inbox on inboxd */
	let ice = null;			/* the promise of the ICE servers */
	let iceList = [];		/* and what it gave */
	const links = new Map();	/* peer -> its connection state */
	const tiles = new Map();	/* peer -> {name, el, video, note} */

	const page = Page.page({
		record: conf,
		log: '[inboxd-conference] ',
		keep: 300,
		onStop: teardown,
		/* Our inbox may have expired meanwhile. */
		onRecover: () => checkMembership(),
	});
	const { params, step, setState, showError, clearError, fatal } = page;

	/* ---- settings ---- */

	/* The inboxd field, ?ice= and ?wait=; false (and said) if wrong. */
	function readSettings() {
		if (!page.readSettings())
			return false;
		if (params.get('wait') !== null) {
			const w = Number(params.get('wait'));

			if (!Number.isInteger(w) || w < 1 || w > 3600) {
				showError('?wait= must be a whole number of ' +
				    'seconds, 1 to 3600.');
				return false;
			}
			wait = w;
		}
		return true;
	}

	/* The link that brings others in: this page, server, room, token. */
	function meetingLink() {
		const q = new URLSearchParams(location.search);
		const f = new URLSearchParams();

		q.set('server', page.server);
		q.delete('token');	/* ours, not theirs */
		f.set('room', conf.room);
		f.set('token', token);
		return location.origin + location.pathname + '?' + q + '#' + f;
	}

	/* ---- inboxd ---- */

	/*
	 * Our inbox: a random name and password, or ?token=; the first
	 * request makes it.  False (and said) if the token names nobody.
	 */
	function openInbox() {
		const opts = {
			url: page.server,
			wait,
			onRetry: page.retrying,
			onRecover: page.recovered,
		};

		if (params.get('token')) {
			inbox = new Inbox(Object.assign({ token:
			    params.get('token') }, opts));
			if (!inbox.user) {
				showError('?token= has no sub: our name is not ' +
				    'known.');
				return false;
			}
			$('my-name').textContent = inbox.user;
		} else {
			inbox = new Inbox(Object.assign(page.newInbox('conf-'),
			    opts));
		}
		conf.me = inbox.user;
		return true;
	}

	/* ?ice=, or what inboxd offers (GET /ice), asked for once. */
	function iceServers() {
		if (ice === null)
			ice = page.iceServers !== null ?
			    Promise.resolve(page.iceServers) :
			    inbox.iceServers().catch(() => []);
		return ice;
	}

	/* Receive until the page stops: events and set-up messages. */
	async function receive() {
		try {
			for await (const m of inbox.messages())
				onMessage(m);
		} catch (e) {
			if (!page.stopped)
				fatal('Waiting for messages: ' + explain(e));
		}
	}

	/* A message from our inbox: a room event or a set-up message. */
	function onMessage(m) {
		if (m.event !== null)
			handleEvent(m.event, m.room, m.body);
		else
			handleSignal(m);
	}

	/* Send obj as JSON to peer l, in order, one at a time. */
	function sendTo(l, obj, what) {
		return l.send(async () => {
			if (l.gone || page.stopped)
				return;
			try {
				await inbox.send(l.name,
				    Object.assign({ room: conf.room }, obj));
			} catch (e) {
				if (e.name === 'AbortError' || page.stopped)
					return;
				if (e.status === 404) {
					/* inboxd will tell the room it left. */
					l.gone = true;
					step('The inbox of ' + l.name + ' is gone; ' +
					    'waiting for inboxd to say it left',
					    'warn');
					return;
				}
				step(what + ' to ' + l.name + ': ' + explain(e),
				    'warn');
			}
		});
	}

	/* ---- the room ---- */

	async function createRoom() {
		let r;

		step('Creating a room on ' + page.server + ' (our inbox ' +
		    conf.me + ' is created with it)');
		try {
			r = await inbox.createRoom();
		} catch (e) {
			if (e.name !== 'AbortError')
				fatal('Creating the room: ' + explain(e));
			return false;
		}
		conf.room = r.room;
		token = r.token;
		conf.creator = true;
		conf.link = meetingLink();
		/* A reload joins again from the link rather than make a room. */
		history.replaceState(null, '', conf.link);
		step('Room ' + r.room + ' created; it lasts ' + r.expiresIn +
		    ' s', 'ok');
		setMembers(r.members);
		return true;
	}

	async function joinRoom() {
		let r;

		step('Joining room ' + conf.room + ' as ' + conf.me);
		try {
			r = await inbox.join(conf.room, token);
		} catch (e) {
			if (e.name === 'AbortError')
				return false;
			if (e.status === 404)
				fatal('This meeting does not exist any more: it ' +
				    'ended, everyone left, or the link is ' +
				    'mistyped.');
			else if (e.status === 403)
				fatal('inboxd refused the link\'s token (403: ' +
				    e.detail + '). Ask for the link again.');
			else if (e.status === 409 && e.code === 'room_full')
				fatal('The meeting is full (409: ' + e.detail +
				    ').');
			else if (e.status === 429)
				fatal('Too many wrong tokens or passwords from ' +
				    'this address: inboxd refuses them for ' +
				    (e.retryAfter || 'a while') + ' s.');
			else
				fatal('Joining the room: ' + explain(e));
			return false;
		}
		step('In the room with ' + (r.members.length - 1) + ' other' +
		    (r.members.length === 2 ? '' : 's') + '; it lasts ' +
		    r.expiresIn + ' more s', 'ok');
		setMembers(r.members);
		return true;
	}

	/*
	 * After a long outage our inbox may have expired, and with it our
	 * place in the room: ask, and join again if so.
	 */
	let checking = false;
	async function checkMembership() {
		if (checking || page.stopped || conf.room === null ||
		    conf.state !== 'in-room')
			return;
		checking = true;
		try {
			setMembers((await inbox.members(conf.room)).members);
		} catch (e) {
			if (e.name === 'AbortError')
				return;
			if (e.status === 404) {
				ended('The meeting is over: the room is gone.');
				return;
			}
			if (e.status !== 403) {
				step('Asking who is in the room: ' + explain(e),
				    'warn');
				return;
			}
			step('Our inbox expired while inboxd was out of reach: ' +
			    'joining again', 'warn');
			for (const name of Array.from(links.keys()))
				dropPeer(name);
			if (await joinRoom())
				connectToAll();
		} finally {
			checking = false;
		}
	}

	/* The member list, as inboxd last gave it. */
	function setMembers(list) {
		conf.members = list.slice();
		for (const name of Array.from(tiles.keys()))
			if (!list.includes(name))
				dropPeer(name);
		for (const name of Array.from(links.keys()))
			if (!list.includes(name))
				dropPeer(name);
		for (const name of list)
			if (name !== conf.me)
				ensureTile(name);
		renderMembers();
	}

	function renderMembers() {
		const ul = $('members');

		ul.textContent = '';
		for (const name of conf.members) {
			const li = document.createElement('li');
			const who = document.createElement('span');
			const how = document.createElement('span');
			const l = links.get(name);

			who.textContent = name;
			how.className = 'how';
			if (name === conf.me) {
				how.textContent = 'you';
			} else {
				const s = l ? l.pc.connectionState : 'waiting';

				how.textContent = s === 'new' ? 'connecting' : s;
				li.className = s;
			}
			li.dataset.peer = name;
			li.append(who, how);
			ul.append(li);
		}
		$('count').textContent = String(conf.members.length);
	}

	function handleEvent(kind, room, text) {
		let ev;

		if (room !== conf.room) {
			step('Ignored a "' + kind + '" event of another room (' +
			    room + ')', 'warn');
			return;
		}
		try {
			ev = JSON.parse(text);
		} catch (e) {
			step('Ignored a "' + kind + '" event that is not JSON',
			    'warn');
			return;
		}
		conf.events.push(Object.assign({ at: Date.now() }, ev));
		switch (kind) {
		case 'joined':
			step(ev.peer + ' joined', 'ok');
			setMembers(ev.members);
			break;
		case 'left':
			conf.lastLeft = Object.assign({ at: Date.now() }, ev);
			if (ev.peer === conf.me) {
				ended('The meeting\'s creator removed you.');
				return;
			}
			step(ev.peer + (ev.reason === 'expired' ?
			    ' is gone (its page stopped polling and its inbox ' +
			    'expired)' : ev.reason === 'removed' ?
			    ' was removed by the creator' : ' left'));
			dropPeer(ev.peer);
			setMembers(ev.members);
			break;
		case 'closed':
			ended(ev.reason === 'expired' ?
			    'The meeting reached its time limit and ended.' :
			    'The creator ended the meeting.');
			break;
		case 'invited':
			step(ev.peer + ' invited us to room ' + ev.room +
			    '; ignored');
			break;
		default:
			step('Ignored an event "' + kind + '"', 'warn');
		}
	}

	/* A set-up message from a peer. */
	function handleSignal(m) {
		const from = m.from;
		const msg = page.parseJson(m);

		if (msg === undefined)
			return;
		if (msg === null || typeof msg !== 'object' ||
		    msg.room !== conf.room) {
			step('Ignored a message from ' + from +
			    ' about another room', 'warn');
			return;
		}
		if (from === conf.me)
			return;
		if (conf.members.includes(from)) {
			enqueueSignal(from, msg);
			return;
		}
		/* A joiner whose "joined" did not reach us: ask inboxd. */
		limbo = limbo.then(async () => {
			if (!conf.members.includes(from))
				await checkMembership();
			if (conf.members.includes(from))
				enqueueSignal(from, msg);
			else
				step('Ignored a message from ' + from +
				    ', who is not in the room', 'warn');
		}).catch(() => {});
	}

	/* Handle the messages of one peer in order, one at a time. */
	function enqueueSignal(from, msg) {
		let l = links.get(from);

		if (!l) {
			if (msg.type !== 'description' ||
			    !msg.description || msg.description.type !== 'offer')
				return;	/* for a connection we dropped */
			l = makeLink(from, false);
		}
		l.chain = l.chain.then(() => onSignal(l, msg)).catch((e) =>
		    step('Signaling with ' + from + ': ' + e.message, 'warn'));
	}

	function ended(text) {
		page.end(text, 'warn', 'closed', 'ended');
	}

	/* The page stops: hang up, free the camera, grey the buttons. */
	function teardown() {
		for (const name of Array.from(links.keys()))
			dropPeer(name);
		for (const name of Array.from(tiles.keys()))
			dropPeer(name);
		if (localStream)
			localStream.getTracks().forEach((t) => t.stop());
		if (inbox)
			inbox.stop();
		$('mute').disabled = true;
		$('camera').disabled = true;
		$('leave').disabled = true;
		$('end').disabled = true;
	}

	/* Leave on our own: tell inboxd, then hang up. */
	async function leave() {
		left = true;
		step('Leaving the room');
		await inbox.leave(conf.room).catch((e) =>
		    step('Leaving: ' + explain(e), 'warn'));
		ended('You left the meeting.');
	}

	async function endForAll() {
		left = true;
		step('Ending the meeting for everyone');
		await inbox.close(conf.room).catch((e) =>
		    step('Ending the meeting: ' + explain(e), 'warn'));
		ended('You ended the meeting.');
	}

	/* ---- tiles ---- */

	function ensureTile(name) {
		let t = tiles.get(name);

		if (t)
			return t;
		const el = document.createElement('figure');
		const video = document.createElement('video');
		const cap = document.createElement('figcaption');
		const who = document.createElement('span');
		const note = document.createElement('span');

		el.className = 'tile remote';
		el.dataset.peer = name;
		video.autoplay = true;
		video.playsInline = true;
		who.className = 'who';
		who.textContent = name;
		who.title = name;
		note.className = 'note';
		note.textContent = 'waiting';
		cap.append(who, note);
		el.append(video, cap);
		$('tiles').append(el);
		t = { name, el, video, note, stream: null };
		/* Its first frame: playing, with a size. */
		const playing = () => {
			if (conf.videoPlaying[name] !== undefined ||
			    video.paused || video.videoWidth === 0)
				return;
			conf.videoPlaying[name] = Date.now();
			step('Video of ' + name + ' is playing (' +
			    video.videoWidth + 'x' + video.videoHeight + ')',
			    'ok');
		};
		video.addEventListener('playing', playing);
		video.addEventListener('resize', playing);
		tiles.set(name, t);
		return t;
	}

	function playTile(t) {
		t.video.play().catch((e) => {
			if (e.name !== 'NotAllowedError' || t.video.muted)
				return;
			/* No click on this page yet: play it muted. */
			t.video.muted = true;
			t.video.play().catch(() => {});
			const b = document.createElement('button');
			b.type = 'button';
			b.className = 'unmute';
			b.textContent = 'Unmute';
			b.addEventListener('click', () => {
				t.video.muted = false;
				b.remove();
			});
			t.el.append(b);
		});
	}

	/* Forget a peer: its connection, its tile. */
	function dropPeer(name) {
		const l = links.get(name);
		const t = tiles.get(name);

		if (l) {
			links.delete(name);
			l.gone = true;
			l.pc.close();
		}
		if (t) {
			tiles.delete(name);
			t.video.srcObject = null;
			t.el.remove();
		}
		if (l || t)
			renderMembers();
	}

	/* ---- WebRTC: one RTCPeerConnection per peer ---- */

	/*
	 * The connection to one peer.  initiate: we make the first offer (we
	 * are the newcomer), so we bring a transceiver for a kind we have no
	 * track of; otherwise the peer's offer brings them.
	 */
	function makeLink(name, initiate) {
		const pc = new RTCPeerConnection({ iceServers: iceList });
		const l = {
			name,
			pc,
			polite: conf.me < name,	/* the first name yields */
			makingOffer: false,
			ignoreOffer: false,
			pending: [],		/* candidates before the SDP */
			chain: Promise.resolve(),
			send: Page.queue(),	/* what we send it */
			gone: false,
			since: Date.now(),
			connectedOnce: false,
		};
		const t = ensureTile(name);

		links.set(name, l);
		for (const kind of ['audio', 'video']) {
			const track = localStream &&
			    localStream.getTracks().find((k) => k.kind === kind);

			if (track)
				pc.addTrack(track, localStream);
			else if (initiate)
				pc.addTransceiver(kind, { direction: 'recvonly' });
		}
		pc.onnegotiationneeded = async () => {
			try {
				l.makingOffer = true;
				await pc.setLocalDescription();
				if (l.gone)
					return;
				step('Sending an offer to ' + name);
				sendDescription(l);
			} catch (e) {
				if (!l.gone)
					step('Making an offer to ' + name +
					    ': ' + e.message, 'warn');
			} finally {
				l.makingOffer = false;
			}
		};
		pc.onicecandidate = (ev) => {
			const c = ev.candidate;

			if (!c || !c.candidate || l.gone)
				return;
			if (!page.sendable(c))
				return;
			sendTo(l, { type: 'candidate', candidate: c.toJSON() },
			    'Sending an ICE candidate');
		};
		pc.ontrack = (ev) => {
			if (!t.stream) {
				t.stream = new MediaStream();
				t.video.srcObject = t.stream;
			}
			t.stream.addTrack(ev.track);
			ev.track.addEventListener('ended', () => {
				if (t.stream)
					t.stream.removeTrack(ev.track);
			});
			playTile(t);
		};
		pc.onconnectionstatechange = () => {
			const s = pc.connectionState;

			if (l.gone)
				return;
			t.note.textContent = s === 'connected' ? '' :
			    s === 'new' ? 'connecting' : s;
			t.el.classList.toggle('trouble',
			    s === 'disconnected' || s === 'failed');
			if (s === 'connected' && !l.connectedOnce) {
				l.connectedOnce = true;
				step('Connected to ' + name + ' in ' +
				    (Date.now() - l.since) + ' ms (' +
				    (l.polite ? 'polite' : 'impolite') + ')', 'ok');
			} else if (s === 'connected') {
				step('Connected to ' + name + ' again', 'ok');
			} else if (s === 'disconnected' || s === 'failed') {
				step('Connection to ' + name + ': ' + s, 'warn');
				/*
				 * inboxd cannot see that a browser holding a
				 * GET went away until something is delivered:
				 * a ping lets its inbox start to expire now.
				 */
				sendTo(l, { type: 'ping' }, 'Pinging');
			}
			if (s === 'failed')
				pc.restartIce();
			renderMembers();
		};
		if (initiate)
			step('Calling ' + name);
		renderMembers();
		return l;
	}

	function sendDescription(l) {
		const d = l.pc.localDescription;

		return sendTo(l, { type: 'description',
		    description: { type: d.type, sdp: page.filterSdp(d.sdp) } },
		    'Sending the ' + d.type);
	}

	/* Perfect negotiation: the receiving half. */
	async function onSignal(l, msg) {
		const pc = l.pc;

		if (l.gone)
			return;
		switch (msg.type) {
		case 'description': {
			const d = msg.description;
			const collision = d.type === 'offer' &&
			    (l.makingOffer || pc.signalingState !== 'stable');

			l.ignoreOffer = !l.polite && collision;
			if (l.ignoreOffer) {
				step('Ignored a colliding offer from ' + l.name +
				    ' (ours goes first)');
				return;
			}
			if (collision)
				step('Offers collided with ' + l.name +
				    ': taking theirs');
			await pc.setRemoteDescription(d);
			const pending = l.pending;
			l.pending = [];
			for (const c of pending)
				await addCandidate(l, c);
			if (d.type === 'offer') {
				await pc.setLocalDescription();
				if (!l.gone)
					sendDescription(l);
			}
			break;
		}
		case 'candidate':
			if (!msg.candidate)
				break;
			if (pc.remoteDescription === null) {
				if (!l.ignoreOffer)
					l.pending.push(msg.candidate);
				break;
			}
			await addCandidate(l, msg.candidate);
			break;
		case 'ping':
			break;
		default:
			step('Ignored a message of type ' + msg.type + ' from ' +
			    l.name, 'warn');
		}
	}

	async function addCandidate(l, c) {
		try {
			await l.pc.addIceCandidate(c);
		} catch (e) {
			if (!l.ignoreOffer)
				step('A candidate from ' + l.name +
				    ' was refused: ' + e.message, 'warn');
		}
	}

	/* The newcomer calls everyone already there. */
	function connectToAll() {
		for (const name of conf.members)
			if (name !== conf.me && !links.has(name))
				makeLink(name, true);
	}

	/* ---- camera and microphone ---- */

	async function openCamera() {
		const tries = [
			[{ video: true, audio: true }, 'camera and microphone'],
			[{ video: true }, 'camera only'],
			[{ audio: true }, 'microphone only'],
		];

		if (!navigator.mediaDevices ||
		    !navigator.mediaDevices.getUserMedia) {
			step('This page has no camera access (it needs https: ' +
			    'or localhost); joining to watch and listen only',
			    'warn');
			$('local-note').textContent = 'no camera';
			return;
		}
		let lastError = null;
		for (const [constraints, what] of tries) {
			try {
				localStream = await navigator.mediaDevices
				    .getUserMedia(constraints);
				step('Using the ' + what, 'ok');
				break;
			} catch (e) {
				lastError = e;
				if (e.name === 'NotAllowedError')
					break;	/* asking again is pointless */
			}
		}
		if (!localStream) {
			step('No camera or microphone (' + (lastError ?
			    lastError.name + ': ' + lastError.message : '?') +
			    '); joining to watch and listen only', 'warn');
			$('local-note').textContent = 'no camera';
			return;
		}
		$('local-video').srcObject = localStream;
		$('local-video').play().catch(() => {});
		$('mute').disabled = localStream.getAudioTracks().length === 0;
		$('camera').disabled = localStream.getVideoTracks().length === 0;
		if (localStream.getVideoTracks().length === 0)
			$('local-note').textContent = 'no camera';
	}

	function toggle(kind, button, on, off) {
		const tracks = kind === 'audio' ? localStream.getAudioTracks() :
		    localStream.getVideoTracks();
		const enabled = !tracks.every((t) => t.enabled);

		tracks.forEach((t) => { t.enabled = enabled; });
		$(button).textContent = enabled ? on : off;
	}

	/* ---- start ---- */

	async function begin() {
		clearError();
		if (!readSettings())
			return;
		if (typeof RTCPeerConnection === 'undefined') {
			showError('This browser has no WebRTC (RTCPeerConnection).');
			return;
		}
		if (!openInbox())
			return;
		conf.timings.start = Date.now();
		show('setup', false);
		show('call', true);
		show('people', true);
		setState('joining', 'joining');
		/*
		 * Best effort: on pagehide leave with a keepalive fetch; if it
		 * is lost, our inbox expires instead.
		 */
		inbox.leaveOnPagehide({ rooms: () => conf.state === 'in-room' &&
		    !left ? inbox.rooms : [] });
		const asked = iceServers();
		await openCamera();
		if (fragment.get('room')) {
			conf.room = fragment.get('room');
			token = fragment.get('token') || '';
			conf.link = meetingLink();
			if (!await joinRoom())
				return;
		} else if (!await createRoom()) {
			return;
		}
		$('link').value = conf.link;
		show('invite', true);
		$('end').hidden = !conf.creator;
		conf.timings.inRoom = Date.now();
		setState('in-room', 'in the room');
		receive();
		iceList = await asked;
		connectToAll();
	}

	if (fragment.get('room')) {
		show('start', false);
		show('join', true);
		$('setup-hint').textContent = 'You were invited to meeting ' +
		    fragment.get('room') + '. Your camera and microphone are ' +
		    'asked for when you join.';
	}
	const go = () => begin().catch((e) =>
	    fatal('Unexpected error: ' + e.message));
	$('start').addEventListener('click', go);
	$('join').addEventListener('click', go);
	$('copy').addEventListener('click', () => {
		$('link').select();
		if (navigator.clipboard)
			navigator.clipboard.writeText(conf.link).catch(() => {});
	});
	$('mute').addEventListener('click', () =>
	    toggle('audio', 'mute', 'Mute', 'Unmute'));
	$('camera').addEventListener('click', () =>
	    toggle('video', 'camera', 'Camera off', 'Camera on'));
	$('leave').addEventListener('click', () => leave().catch(() => {}));
	$('end').addEventListener('click', () => endForAll().catch(() => {}));
	$('restart').addEventListener('click', () => location.reload());
	/* Leaving the room on pagehide is inbox.leaveOnPagehide's. */
	window.addEventListener('pagehide', () => page.stop());
	/* Back from the back/forward cache: we left the room, start anew. */
	window.addEventListener('pageshow', (ev) => {
		if (ev.persisted)
			location.reload();
	});
	setState('start', 'not started');
})();

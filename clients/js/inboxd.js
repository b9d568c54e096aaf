/*
 * inboxd.js - a client of inboxd, the HTTP long-poll mailbox, for
 * browsers and Node 18 or later: one ES module, no dependencies, no
 * build step.
 *
 *     import { Inbox } from './inboxd.js';
 *
 *     const inbox = new Inbox({ url: 'http://127.0.0.1:8080',
 *         user: 'alice', password: 'secret' });
 *     await inbox.send('bob', { type: 'offer', sdp });
 *     for await (const m of inbox.messages({ signal }))
 *             console.log(m.from, m.body);
 *
 * The receive loop asks for batches and acknowledges what it handed to
 * the application (GET /inbox?wait=W&max=N&ack=ID), so that a response
 * lost on its way costs nothing but a second delivery, which it drops by
 * id; against an inboxd that predates batches and acknowledgements it
 * reads the single-message answers of the original protocol.  See README
 * for the rules of bodies, duplicates, retries and errors.
 */

/**
 * One message of our inbox, as the receive loop yields it.
 * @typedef {object} Message
 * @property {number|null} id  inboxd's X-Message-Id
 * @property {string} from  the sender's inbox name
 * @property {string} type  its Content-Type (application/octet-stream
 *     when the sender gave none)
 * @property {string|Uint8Array} body  text, or bytes (see isTextType)
 * @property {string|null} room  the room of a room copy or event
 * @property {string|null} event  joined, left, closed or invited
 */
/**
 * A room's members, as a join or GET /rooms/ROOM answers.
 * @typedef {{room: string, members: string[], expiresIn: number}} RoomInfo
 */
/**
 * What onRetry is told before each wait to retry.
 * @typedef {{request: string, status: number, error: InboxdError,
 *     delay: number, attempt: number}} RetryInfo
 */
/**
 * A body to send: text, bytes, a Blob, or any value, sent as JSON.
 * @typedef {string|ArrayBuffer|ArrayBufferView|Blob|object|null} Body
 */

const TEXT_TYPES = new Set(['application/json', 'application/sdp',
    'application/xml', 'application/javascript', 'application/ecmascript',
    'application/x-www-form-urlencoded', 'application/x-ndjson']);
const OCTETS = 'application/octet-stream';
const SEEN_MAX = 1024;		/* ids remembered for dropping duplicates */

/**
 * An answer of inboxd that is not a success, or a request that could not
 * be made.  `status` is the HTTP status (0 when inboxd could not be
 * reached), `code` the error word of inboxd's JSON body
 * (`"unauthorized"`, `"not_found"`, `"inbox_full"` ...; `"unreachable"`
 * for a network failure, `"bad_response"` for an answer that is not what
 * the protocol says), `detail` inboxd's explanation for a person (the
 * `message` of its JSON body, else the whole message), and `retryAfter`
 * the seconds of its `Retry-After` header, or null.
 */
export class InboxdError extends Error {
	/**
	 * @param {string} message  text for a person
	 * @param {{status?: number, code?: string, detail?: string,
	 *     retryAfter?: number|null, cause?: unknown}} [info]
	 */
	constructor(message, info = {}) {
		super(message, info.cause === undefined ? undefined :
		    { cause: info.cause });
		this.name = 'InboxdError';
		/** @type {number} */
		this.status = info.status || 0;
		/** @type {string} */
		this.code = info.code || (this.status ? 'http_' + this.status :
		    'unreachable');
		/** @type {string} */
		this.detail = info.detail || message;
		/** @type {number|null} */
		this.retryAfter = info.retryAfter === undefined ? null :
		    info.retryAfter;
	}
}

/**
 * Whether a Content-Type names text: `text/*`, JSON, SDP, XML, forms,
 * JavaScript, or any type with a `charset` parameter.  Such a message's
 * body is given as a string when it is valid UTF-8.
 *
 * @param {string|null|undefined} type
 * @returns {boolean}
 */
export function isTextType(type) {
	if (!type)
		return false;
	const parts = type.toLowerCase().split(';');
	const mime = parts[0].trim();

	return mime.startsWith('text/') || TEXT_TYPES.has(mime) ||
	    mime.endsWith('+json') || mime.endsWith('+xml') ||
	    parts.slice(1).some((p) => p.trim().startsWith('charset='));
}

/**
 * The base64 of some bytes (RFC 4648), for Basic credentials and the like.
 *
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function base64(bytes) {
	let s = '';

	for (let i = 0; i < bytes.length; i += 0x8000)
		s += String.fromCharCode.apply(null,
		    bytes.subarray(i, i + 0x8000));
	return btoa(s);
}

function fromBase64(text) {
	const s = atob(text);
	const bytes = new Uint8Array(s.length);

	for (let i = 0; i < s.length; i++)
		bytes[i] = s.charCodeAt(i);
	return bytes;
}

/**
 * The `Authorization` header of HTTP Basic credentials (RFC 7617) with
 * the UTF-8 bytes of the name and password, as inboxd reads them
 * (`btoa(user + ':' + password)` alone fails on anything past Latin-1).
 *
 * @param {string} user  the inbox name, without `:`
 * @param {string} password
 * @returns {string}
 */
export function basicAuth(user, password) {
	if (typeof user !== 'string' || user === '' || user.includes(':'))
		throw new TypeError('an inbox name is a non-empty string ' +
		    'without ":"');
	if (typeof password !== 'string' || password === '')
		throw new TypeError('a password is a non-empty string');
	return 'Basic ' + base64(new TextEncoder().encode(user + ':' +
	    password));
}

/* The sub of a JWT's payload, without checking anything: our own name. */
function jwtSubject(token) {
	try {
		const p = token.split('.')[1].replace(/-/g, '+')
		    .replace(/_/g, '/');
		const json = new TextDecoder().decode(fromBase64(p +
		    '='.repeat((4 - p.length % 4) % 4)));
		const sub = JSON.parse(json).sub;

		return typeof sub === 'string' ? sub : null;
	} catch (e) {
		return null;
	}
}

/*
 * A header that holds a name: fetch gives header values as ByteStrings,
 * one character a byte, and inboxd's names are UTF-8.
 */
function headerText(res, name) {
	const v = res.headers.get(name);

	if (v === null || !/[^\x00-\x7f]/.test(v))
		return v;
	try {
		return new TextDecoder('utf-8', { fatal: true })
		    .decode(Uint8Array.from(v, (c) => c.charCodeAt(0)));
	} catch (e) {
		return v;
	}
}

/* A string as its UTF-8 bytes, one character a byte, for a header. */
function byteString(s) {
	return String.fromCharCode.apply(null, new TextEncoder().encode(s));
}

/* Retry-After (RFC 9110 10.2.3) in ms: delay-seconds or an HTTP-date. */
function retryAfterMs(res) {
	const v = res.headers.get('Retry-After');

	if (v === null)
		return null;
	if (/^\s*\d+\s*$/.test(v))
		return Number(v) * 1000;
	const at = Date.parse(v);
	return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

/* The error an answer that is not a success stands for. */
async function errorOf(res, what) {
	let code = '';
	let text = '';

	try {
		const j = JSON.parse(await res.text());

		code = typeof j.error === 'string' ? j.error : '';
		text = typeof j.message === 'string' ? j.message : '';
	} catch (e) {
		/* not inboxd's JSON: a proxy's page, say */
	}
	const after = retryAfterMs(res);
	return new InboxdError(what + ': ' + res.status + ' ' +
	    (code || res.statusText || 'error') + (text ? ' (' + text + ')' :
	    ''), { status: res.status, code: code || undefined,
	    detail: text || code || res.statusText || undefined,
	    retryAfter: after === null ? null : Math.ceil(after / 1000) });
}

function abortError(signal) {
	if (signal && signal.reason !== undefined)
		return signal.reason;
	const e = new Error('aborted');
	e.name = 'AbortError';
	return e;
}

/*
 * A signal that aborts when any of these does (AbortSignal.any is not in
 * Node 18); release() unhooks it from the long-lived ones.
 */
function linkSignals(signals) {
	const ctl = new AbortController();
	const hooks = [];

	for (const s of signals) {
		if (!s)
			continue;
		if (s.aborted) {
			ctl.abort(s.reason);
			break;
		}
		const fn = () => ctl.abort(s.reason);
		s.addEventListener('abort', fn, { once: true });
		hooks.push([s, fn]);
	}
	return {
		signal: ctl.signal,
		abort: (why) => ctl.abort(why),
		release: () => hooks.forEach(([s, fn]) =>
		    s.removeEventListener('abort', fn)),
	};
}

/* Resolves after ms, or rejects when signal aborts first. */
function sleep(ms, signal) {
	return new Promise((resolve, reject) => {
		if (signal.aborted) {
			reject(abortError(signal));
			return;
		}
		const done = () => {
			clearTimeout(timer);
			reject(abortError(signal));
		};
		const timer = setTimeout(() => {
			signal.removeEventListener('abort', done);
			resolve();
		}, ms);
		signal.addEventListener('abort', done, { once: true });
	});
}

/* A body for fetch and its Content-Type. */
function encodeBody(body, type) {
	if (typeof body === 'string')
		return [body, type || 'text/plain; charset=utf-8'];
	if (body instanceof ArrayBuffer || ArrayBuffer.isView(body))
		return [body, type || OCTETS];
	if (typeof Blob !== 'undefined' && body instanceof Blob)
		return [body, type || body.type || OCTETS];
	if (body === undefined || body === null)
		return ['', type || 'text/plain; charset=utf-8'];
	return [JSON.stringify(body), type || 'application/json'];
}

/* A message body as the application gets it: the rule of README. */
function bodyOf(bytes, type) {
	if (isTextType(type)) {
		try {
			return new TextDecoder('utf-8', { fatal: true })
			    .decode(bytes);
		} catch (e) {
			/* not UTF-8 after all: bytes */
		}
	}
	return bytes;
}

/*
 * The messages of a 200 answer to GET /inbox, and whether it was a batch:
 * a single message has X-From and its raw body, a batch has none and is
 * JSON.
 */
async function messagesOf(res) {
	const from = headerText(res, 'X-From');

	if (from !== null) {
		const type = res.headers.get('Content-Type') || OCTETS;
		const id = Number(res.headers.get('X-Message-Id'));

		return { batch: false, list: [{
			id: Number.isSafeInteger(id) ? id : null,
			from,
			type,
			body: bodyOf(new Uint8Array(await res.arrayBuffer()),
			    type),
			room: headerText(res, 'X-Room'),
			event: res.headers.get('X-Event'),
		}] };
	}
	const j = JSON.parse(await res.text());
	if (!j || !Array.isArray(j.messages))
		throw new InboxdError('GET /inbox: a 200 without X-From and ' +
		    'without a batch', { status: 200, code: 'bad_response' });
	return { batch: true, list: j.messages.map(messageOf) };
}

/* One message of a batch. */
function messageOf(m) {
	const type = m.type || OCTETS;
	const id = Number(m.id);
	let body;

	if (typeof m.body_base64 === 'string')
		body = bodyOf(fromBase64(m.body_base64), type);
	else if (isTextType(type))
		body = String(m.body);
	else
		body = new TextEncoder().encode(String(m.body));
	return {
		id: Number.isSafeInteger(id) ? id : null,
		from: String(m.from),
		type,
		body,
		room: m.room === undefined ? null : m.room,
		event: m.event === undefined ? null : m.event,
	};
}
function roomPath(room, rest) {
	return '/rooms/' + encodeURIComponent(room) + (rest || '');
}

/* {expires_in, ...} as {expiresIn, ...}. */
function roomInfo(j) {
	return { room: j.room, members: j.members, expiresIn: j.expires_in };
}

/**
 * One inbox of an inboxd server, and what it may do there.
 *
 * Create it with the server's URL and either Basic credentials
 * (`{url, user, password}`; the first request of a name creates its
 * inbox with that password) or a Bearer token (`{url, token}`).  Every
 * method makes HTTP requests with `fetch` and needs nothing else.
 */
export class Inbox {
	/**
	 * @param {object} opts
	 * @param {string} opts.url  inboxd, e.g. `http://127.0.0.1:8080`
	 *     (a path prefix behind a proxy is kept)
	 * @param {string} [opts.user]  the inbox name (with `password`); with
	 *     `token`, the name if the token's `sub` is not it
	 * @param {string} [opts.password]
	 * @param {string} [opts.token]  a JWT, sent as `Authorization: Bearer`
	 * @param {number} [opts.wait=25]  seconds each GET /inbox is held
	 * @param {number} [opts.max=32]  messages asked for in one GET /inbox
	 * @param {number} [opts.retryFor=30000]  ms a request other than the
	 *     receive loop may spend retrying before it throws
	 * @param {number} [opts.backoffBase=250]  ms, the first backoff's cap
	 * @param {number} [opts.backoffCap=10000]  ms, the largest backoff
	 * @param {(info: RetryInfo) => void} [opts.onRetry]  told before each
	 *     wait to retry
	 * @param {() => void} [opts.onRecover]  told when a request succeeds
	 *     after retries
	 * @param {typeof fetch} [opts.fetch]  the fetch to use (default: the
	 *     global one)
	 * @param {RequestInit} [opts.fetchOptions]  more options for every
	 *     fetch, such as `{cache: 'no-store'}`
	 */
	constructor(opts) {
		if (!opts || typeof opts.url !== 'string')
			throw new TypeError('new Inbox({url, user, password}) or ' +
			    'new Inbox({url, token})');
		const u = new URL(opts.url);

		if (u.protocol !== 'http:' && u.protocol !== 'https:')
			throw new TypeError('inboxd is an http: or https: URL');
		/** The server, without a final `/`. */
		this.url = u.href.replace(/[?#].*$/, '').replace(/\/+$/, '');
		if (opts.token !== undefined) {
			if (typeof opts.token !== 'string' || opts.token === '')
				throw new TypeError('a token is a non-empty ' +
				    'string');
			this.auth = 'Bearer ' + opts.token;
			/** Our inbox name (null when a token does not say). */
			this.user = opts.user || jwtSubject(opts.token);
		} else {
			this.auth = basicAuth(opts.user, opts.password);
			this.user = opts.user;
		}
		this.wait = opts.wait === undefined ? 25 : opts.wait;
		this.max = opts.max === undefined ? 32 : opts.max;
		this.retryFor = opts.retryFor === undefined ? 30000 :
		    opts.retryFor;
		this.backoffBase = opts.backoffBase || 250;
		this.backoffCap = opts.backoffCap || 10000;
		this.onRetry = opts.onRetry || null;
		this.onRecover = opts.onRecover || null;
		this.fetchOptions = opts.fetchOptions || {};
		this._fetch = opts.fetch || ((...a) => globalThis.fetch(...a));
		this._stop = new AbortController();	/* stop() aborts it */
		this._loop = null;		/* the running loop's controller */
		/*
		 * The id of the last message handed to the application: the
		 * next GET acknowledges it and everything before it.
		 */
		this._ack = 0;
		this._seen = new Set();		/* ids handed out, oldest first */
		this._dedupe = false;		/* the server answered a batch */
		this._rooms = new Set();	/* rooms we are in, for pagehide */
	}

	/* Full jitter: a random wait up to base * 2^attempt, capped. */
	_backoff(attempt) {
		return Math.random() * Math.min(this.backoffCap,
		    this.backoffBase * 2 ** attempt);
	}

	/*
	 * One fetch with our credentials and a deadline; rejects with the
	 * AbortError of signal, or an InboxdError for the network.
	 */
	async _fetchOnce(method, path, init, signal, timeoutMs) {
		const link = linkSignals([signal]);
		const timer = setTimeout(() => link.abort(new InboxdError(
		    method + ' ' + path + ': no answer in ' + timeoutMs / 1000 +
		    ' s', { code: 'timeout' })), timeoutMs);

		try {
			return await this._fetch(this.url + path,
			    Object.assign({}, this.fetchOptions, init, {
				method,
				headers: Object.assign({
				    Authorization: this.auth },
				    init.headers),
				signal: link.signal,
			    }));
		} catch (e) {
			if (signal.aborted)
				throw abortError(signal);
			if (e instanceof InboxdError)
				throw e;
			if (link.signal.aborted &&
			    link.signal.reason instanceof InboxdError)
				throw link.signal.reason;
			throw new InboxdError(method + ' ' + path +
			    ': cannot reach inboxd at ' + this.url + ' (' +
			    (e && e.cause && e.cause.code ? e.cause.code :
			    e && e.message) + ')', { cause: e });
		} finally {
			clearTimeout(timer);
			link.release();
		}
	}

	/*
	 * A request other than the receive loop's, retried with backoff on
	 * network failures and 5xx, and after Retry-After on 429 and 503,
	 * for retryFor ms at most.  Returns the response of a 2xx; throws an
	 * InboxdError for anything else, or the AbortError of opts.signal or
	 * stop().
	 */
	async _request(method, path, opts = {}) {
		const link = linkSignals([opts.signal, this._stop.signal]);
		const what = method + ' ' + path.replace(/\?.*/, '');
		const started = Date.now();
		let troubled = false;

		try {
			for (let attempt = 0; ; attempt++) {
				let res;
				let err;
				let delay;

				try {
					res = await this._fetchOnce(method, path,
					    { headers: opts.headers,
					    body: opts.body,
					    keepalive: opts.keepalive },
					    link.signal, opts.timeout || 30000);
				} catch (e) {
					if (!(e instanceof InboxdError))
						throw e;
					err = e;
					delay = this._backoff(attempt);
				}
				if (res && res.ok) {
					if (troubled && this.onRecover)
						this.onRecover();
					return res;
				}
				if (res) {
					err = await errorOf(res, what);
					if (res.status === 429 ||
					    res.status === 503) {
						delay = retryAfterMs(res);
						if (delay === null)
							delay = this._backoff(
							    attempt);
					} else if (res.status >= 500) {
						delay = this._backoff(attempt);
					} else {
						throw err;
					}
				}
				if (opts.retry === false ||
				    Date.now() + delay - started > this.retryFor)
					throw err;
				troubled = true;
				if (this.onRetry)
					this.onRetry({ request: what,
					    status: err.status, error: err,
					    delay: Math.round(delay),
					    attempt: attempt + 1 });
				await sleep(delay, link.signal);
			}
		} finally {
			link.release();
		}
	}

	async _json(method, path, opts) {
		const res = await this._request(method, path, opts);

		try {
			return JSON.parse(await res.text());
		} catch (e) {
			throw new InboxdError(method + ' ' + path +
			    ': the answer is not JSON', { status: res.status,
			    code: 'bad_response', cause: e });
		}
	}

	/**
	 * Send a message to the inbox `to` (POST /inbox?to=).  `body` is a
	 * string (sent as `text/plain; charset=utf-8`), bytes (a Uint8Array,
	 * another typed array or an ArrayBuffer: `application/octet-stream`),
	 * a Blob, or any other value, sent as JSON (`application/json`);
	 * `type` overrides the Content-Type.  Resolves once it is queued;
	 * throws an InboxdError with status 404 when `to` has no inbox, 413
	 * when it is too large, 503 `inbox_full` once retrying for
	 * `retryFor` ms did not help.
	 *
	 * @param {string} to
	 * @param {Body} body
	 * @param {{type?: string, signal?: AbortSignal}} [opts]
	 * @returns {Promise<void>}
	 */
	async send(to, body, opts = {}) {
		const [data, type] = encodeBody(body, opts.type);

		await this._request('POST', '/inbox?to=' +
		    encodeURIComponent(to), { headers: { 'Content-Type': type },
		    body: data, signal: opts.signal });
	}

	/**
	 * Send a message to the inbox a pairing code names (POST /inbox with
	 * X-PIN), using the code up; resolves to the name of that inbox, to
	 * go on with `send()`.  An unknown, used or expired code throws an
	 * InboxdError with status 404 (it counts as a failed attempt of this
	 * address; too many give 429).
	 *
	 * @param {string} pin
	 * @param {Body} body  as for send()
	 * @param {{type?: string, signal?: AbortSignal}} [opts]
	 * @returns {Promise<string>}
	 */
	async sendByPin(pin, body, opts = {}) {
		const [data, type] = encodeBody(body, opts.type);
		const res = await this._request('POST', '/inbox', {
			headers: { 'Content-Type': type, 'X-PIN': String(pin) },
			body: data,
			signal: opts.signal,
		});
		const to = headerText(res, 'X-To');

		if (to === null)
			throw new InboxdError('POST /inbox with X-PIN: no X-To ' +
			    'in the answer (is it exposed to this page?)',
			    { status: res.status, code: 'bad_response' });
		return to;
	}

	/**
	 * Ask for a pairing code that names our inbox (POST /pin); another
	 * peer passes it to sendByPin().  A new code replaces the last one.
	 *
	 * @param {{signal?: AbortSignal}} [opts]
	 * @returns {Promise<{pin: string, expiresIn: number}>}
	 */
	async pin(opts = {}) {
		const j = await this._json('POST', '/pin',
		    { signal: opts.signal });

		return { pin: j.pin, expiresIn: j.expires_in };
	}

	/**
	 * Create a room with us as its creator and first member (POST
	 * /rooms).  Without `name` it gets a random id, and without
	 * `password` (nor `inviteOnly`) a random join `token`, given only
	 * here.  Throws an InboxdError 409 (`conflict`, `too_many_rooms`) or
	 * 503 (`server_full`).
	 *
	 * @param {{name?: string, password?: string, ttl?: number,
	 *     maxMembers?: number, inviteOnly?: boolean,
	 *     signal?: AbortSignal}} [opts]
	 * @returns {Promise<{room: string, token: string|null,
	 *     expiresIn: number, members: string[]}>}
	 */
	async createRoom(opts = {}) {
		const spec = {};

		if (opts.name !== undefined)
			spec.name = opts.name;
		if (opts.password !== undefined)
			spec.password = opts.password;
		if (opts.ttl !== undefined)
			spec.ttl = opts.ttl;
		if (opts.maxMembers !== undefined)
			spec.max_members = opts.maxMembers;
		if (opts.inviteOnly !== undefined)
			spec.invite_only = opts.inviteOnly;
		const empty = Object.keys(spec).length === 0;
		const j = await this._json('POST', '/rooms', {
			headers: empty ? {} :
			    { 'Content-Type': 'application/json' },
			body: empty ? undefined : JSON.stringify(spec),
			signal: opts.signal,
		});

		if (this.user === null && Array.isArray(j.members))
			this.user = j.members[0];
		this._rooms.add(j.room);
		return Object.assign(roomInfo(j),
		    { token: j.token === undefined ? null : j.token });
	}

	/**
	 * Join a room (POST /rooms/ROOM/members) with its token or password,
	 * or without one when we were invited.  Resolves to its members, us
	 * included, in the order they joined; the others get a `joined`
	 * event.  Throws an InboxdError 403 (wrong secret), 404 (no such
	 * room) or 409 (`room_full`, `too_many_rooms`).
	 *
	 * @param {string} room
	 * @param {string} [secret]
	 * @param {{signal?: AbortSignal}} [opts]
	 * @returns {Promise<RoomInfo>}
	 */
	async join(room, secret, opts = {}) {
		const j = await this._json('POST', roomPath(room, '/members'), {
			headers: secret === undefined || secret === null ? {} :
			    { 'X-Room-Token': byteString(secret) },
			signal: opts.signal,
		});

		this._rooms.add(room);
		return roomInfo(j);
	}

	/**
	 * Who is in a room we are in (GET /rooms/ROOM).  Throws an
	 * InboxdError 403 when we are not a member, 404 for no such room.
	 *
	 * @param {string} room
	 * @param {{signal?: AbortSignal}} [opts]
	 * @returns {Promise<RoomInfo>}
	 */
	async members(room, opts = {}) {
		return roomInfo(await this._json('GET', roomPath(room),
		    { signal: opts.signal }));
	}

	/**
	 * Leave a room (DELETE /rooms/ROOM/members/NAME), or, as its
	 * creator, remove the member `name`.  The others get a `left` event.
	 *
	 * @param {string} room
	 * @param {string} [name]  default: us
	 * @param {{signal?: AbortSignal}} [opts]
	 * @returns {Promise<void>}
	 */
	async leave(room, name, opts = {}) {
		const who = name === undefined || name === null ? this.user :
		    name;

		if (!who)
			throw new TypeError('leave(room, name): our name is ' +
			    'not known (give user with the token)');
		await this._request('DELETE', roomPath(room, '/members/' +
		    encodeURIComponent(who)), { signal: opts.signal });
		if (who === this.user)
			this._rooms.delete(room);
	}

	/**
	 * Send a message to every other member of a room (POST
	 * /inbox?room=); each copy carries the room.  `body` as for send().
	 * Resolves to who got a copy and who did not, and why
	 * (`{delivered: ['bob'], failed: {carol: 'inbox_full'}}`).
	 *
	 * @param {string} room
	 * @param {Body} body
	 * @param {{type?: string, signal?: AbortSignal}} [opts]
	 * @returns {Promise<{delivered: string[],
	 *     failed: Object<string, string>}>}
	 */
	async sendToRoom(room, body, opts = {}) {
		const [data, type] = encodeBody(body, opts.type);
		const j = await this._json('POST', '/inbox?room=' +
		    encodeURIComponent(room), { headers: { 'Content-Type': type },
		    body: data, signal: opts.signal });

		return { delivered: j.delivered || [], failed: j.failed || {} };
	}

	/**
	 * Invite the inbox `peer` to a room (POST
	 * /rooms/ROOM/invitations?peer=): it may then join once without the
	 * secret, and gets an `invited` event.
	 *
	 * @param {string} room
	 * @param {string} peer
	 * @param {{signal?: AbortSignal}} [opts]
	 * @returns {Promise<void>}
	 */
	async invite(room, peer, opts = {}) {
		await this._request('POST', roomPath(room, '/invitations?peer=' +
		    encodeURIComponent(peer)), { signal: opts.signal });
	}

	/**
	 * Close a room we created (DELETE /rooms/ROOM); every member gets a
	 * `closed` event.
	 *
	 * @param {string} room
	 * @param {{signal?: AbortSignal}} [opts]
	 * @returns {Promise<void>}
	 */
	async close(room, opts = {}) {
		await this._request('DELETE', roomPath(room),
		    { signal: opts.signal });
		this._rooms.delete(room);
	}

	/**
	 * The STUN and TURN servers inboxd offers (GET /ice), ready for
	 * `new RTCPeerConnection({iceServers})`; `[]` from an inboxd that
	 * has none or no /ice at all: a 404, or, in a browser, a failed
	 * request (an inboxd without /ice answers its CORS preflight 404,
	 * which fetch reports as a network failure).  One try, no retries:
	 * a page should not wait for what it can do without.
	 *
	 * @param {{signal?: AbortSignal}} [opts]
	 * @returns {Promise<RTCIceServer[]>}
	 */
	async iceServers(opts = {}) {
		try {
			const j = await this._json('GET', '/ice',
			    { signal: opts.signal, retry: false });

			return Array.isArray(j.iceServers) ? j.iceServers : [];
		} catch (e) {
			if (e instanceof InboxdError && (e.status === 404 ||
			    e.status === 0))
				return [];
			throw e;
		}
	}

	/**
	 * The messages of our inbox, oldest first, as they come: an async
	 * iterator that long-polls (GET /inbox?wait=&max=&ack=) until
	 * stop(), the signal, or a `break` ends it, which it then does at
	 * once and without an error.  Each message is `{id, from, type,
	 * body, room, event}`: `body` a string when `type` is text and the
	 * bytes are UTF-8, else a Uint8Array; `room` and `event` null but
	 * for room copies and events.  A message is given once: the loop
	 * acknowledges what it handed out and drops a second copy by id.
	 * Network failures and 5xx are retried with backoff, 429 and 503
	 * after Retry-After, for ever; any other answer (401: the inbox is
	 * someone else's now, or the password is wrong) ends the loop with
	 * an InboxdError.  One loop at a time: a new one stops the last.
	 *
	 * @param {{signal?: AbortSignal, wait?: number, max?: number}} [opts]
	 * @returns {AsyncGenerator<Message, void, undefined>}
	 */
	messages(opts = {}) {
		if (this._loop)
			this._loop.abort();
		const link = linkSignals([opts.signal, this._stop.signal]);

		this._loop = link;
		return this._receive(link, opts.wait === undefined ? this.wait :
		    opts.wait, opts.max === undefined ? this.max : opts.max);
	}

	/*
	 * Drop duplicates only from an inboxd that answered a batch: that
	 * protocol came with ids that are never used twice for a name, even
	 * across restarts.  An older one starts again at 1 when it restarts,
	 * so there a "seen" id may be a new message (see README).
	 */
	_note(batch, wanted) {
		if (batch) {
			this._dedupe = true;
		} else if (wanted > 1 && this._dedupe) {
			this._dedupe = false;	/* an older inboxd now */
			this._seen.clear();
		}
	}

	_remember(id) {
		if (!this._dedupe)
			return;
		this._seen.add(id);
		if (this._seen.size > SEEN_MAX)
			this._seen.delete(this._seen.values().next().value);
	}

	async *_receive(link, wait, max) {
		const signal = link.signal;
		let attempt = 0;
		let troubled = false;

		try {
			for (;;) {
				const path = '/inbox?wait=' + wait +
				    (max > 1 ? '&max=' + max : '') +
				    '&ack=' + this._ack;
				let res;
				let got = null;
				let delay = null;
				let err = null;

				if (signal.aborted)
					return;
				try {
					res = await this._fetchOnce('GET', path,
					    {}, signal, (wait + 15) * 1000);
					if (res.status === 200)
						got = await messagesOf(res);
					else if (res.status === 204)
						got = { batch: null, list: [] };
				} catch (e) {
					if (signal.aborted)
						return;
					err = e instanceof InboxdError ? e :
					    new InboxdError('GET /inbox: the ' +
					    'answer was cut off', { cause: e });
				}
				if (got !== null) {
					attempt = 0;
					if (troubled && this.onRecover)
						this.onRecover();
					troubled = false;
					if (got.batch !== null)
						this._note(got.batch, max);
					for (const m of got.list) {
						const dup = this._dedupe &&
						    m.id !== null &&
						    this._seen.has(m.id);

						if (m.id !== null) {
							this._ack = m.id;
							this._remember(m.id);
						}
						if (!dup)
							yield m;
						if (signal.aborted)
							return;
					}
					continue;
				}
				if (err === null) {
					err = await errorOf(res, 'GET /inbox');
					if (res.status === 429 ||
					    res.status === 503)
						delay = retryAfterMs(res);
					else if (res.status < 500)
						throw err;
				}
				if (delay === null)
					delay = this._backoff(attempt);
				attempt++;
				troubled = true;
				if (this.onRetry)
					this.onRetry({ request: 'GET /inbox',
					    status: err.status, error: err,
					    delay: Math.round(delay), attempt });
				try {
					await sleep(delay, signal);
				} catch (e) {
					return;
				}
			}
		} catch (e) {
			/* Someone else's inbox now, or none: its ids are not ours. */
			if (e instanceof InboxdError && (e.status === 401 ||
			    e.status === 404))
				this._seen.clear();
			throw e;
		} finally {
			link.release();
			if (this._loop === link)
				this._loop = null;
		}
	}

	/**
	 * End the receive loop at once (its pending GET is aborted) and
	 * abort every other request in flight.  The inbox may be used again
	 * afterwards: a new messages() starts a new loop, which acknowledges
	 * what the last one handed out.
	 */
	stop() {
		const old = this._stop;

		this._stop = new AbortController();
		old.abort();
	}

	/**
	 * The rooms created or joined through this object and not left or
	 * closed since.
	 *
	 * @returns {string[]}
	 */
	get rooms() {
		return Array.from(this._rooms);
	}

	/**
	 * In a browser: when the page goes away (`pagehide`), leave our
	 * rooms with `fetch(..., {keepalive: true})`, which outlives the
	 * page, and stop().  Without it the others hear that we left only
	 * once our inbox expires.  Returns a function that removes the
	 * handler.
	 *
	 * @param {{rooms?: () => string[], target?: EventTarget}} [opts]
	 *     `rooms`: which rooms to leave (default: the `rooms` getter);
	 *     `target`: where pagehide fires (default: `window`)
	 * @returns {() => void}
	 */
	leaveOnPagehide(opts = {}) {
		const target = opts.target || globalThis;
		const handler = () => {
			const rooms = opts.rooms ? opts.rooms() : this.rooms;

			if (this.user)
				for (const room of rooms)
					this._fetch(this.url + roomPath(room,
					    '/members/' +
					    encodeURIComponent(this.user)), {
						method: 'DELETE',
						headers: { Authorization: this.auth },
						keepalive: true,
					}).catch(() => {});
			this._rooms.clear();
			this.stop();
		};

		if (typeof target.addEventListener !== 'function')
			return () => {};
		target.addEventListener('pagehide', handler);
		return () => target.removeEventListener('pagehide', handler);
	}
}

/*
 * inboxd.d.ts - the types of inboxd.js, written by hand.
 */

/** What send(), sendByPin() and sendToRoom() take as a body. */
export type Body =
	| string
	| ArrayBuffer
	| ArrayBufferView
	| Blob
	| null
	| undefined
	| { [key: string]: unknown }
	| unknown[]
	| number
	| boolean;

/** One message of our inbox, as the receive loop yields it. */
export interface Message {
	/** inboxd's id of it (X-Message-Id), or null if it gave none. */
	id: number | null;
	/** The sender's inbox name (X-From). */
	from: string;
	/**
	 * The sender's Content-Type; `application/octet-stream` when it gave
	 * none.
	 */
	type: string;
	/**
	 * A string when `type` is text (see isTextType) and the bytes are
	 * UTF-8; the bytes otherwise.
	 */
	body: string | Uint8Array;
	/** The room of a room copy or event (X-Room), else null. */
	room: string | null;
	/**
	 * The event (`joined`, `left`, `closed`, `invited`) of a room event
	 * (X-Event), else null; its body is then JSON:
	 * `{event, room, peer, reason, members}`.
	 */
	event: string | null;
}

/** A room's members, as a join or GET /rooms/ROOM answers. */
export interface RoomInfo {
	room: string;
	/** In the order they joined, the creator first. */
	members: string[];
	/** Seconds the room has left. */
	expiresIn: number;
}

/** What createRoom() resolves to. */
export interface CreatedRoom extends RoomInfo {
	/** The join token inboxd drew, given only here; null otherwise. */
	token: string | null;
}

/** What onRetry is told before each wait to retry. */
export interface RetryInfo {
	/** Such as `"GET /inbox"` or `"POST /inbox"`. */
	request: string;
	/** The HTTP status, 0 for a network failure. */
	status: number;
	error: InboxdError;
	/** Milliseconds to wait before the next try. */
	delay: number;
	/** 1 for the first retry. */
	attempt: number;
}

export interface InboxOptions {
	/** inboxd, e.g. `http://127.0.0.1:8080`. */
	url: string;
	/** The inbox name (with password); with token, if not its `sub`. */
	user?: string;
	password?: string;
	/** A JWT, sent as `Authorization: Bearer`. */
	token?: string;
	/** Seconds each GET /inbox is held (default 25). */
	wait?: number;
	/** Messages asked for in one GET /inbox (default 32). */
	max?: number;
	/** Milliseconds a request other than the loop retries (default 30000). */
	retryFor?: number;
	/** Milliseconds, the cap of the first backoff (default 250). */
	backoffBase?: number;
	/** Milliseconds, the largest backoff (default 10000). */
	backoffCap?: number;
	onRetry?: (info: RetryInfo) => void;
	onRecover?: () => void;
	fetch?: typeof fetch;
	/** More options for every fetch, such as `{cache: 'no-store'}`. */
	fetchOptions?: RequestInit;
}

export interface SendOptions {
	/** The Content-Type, instead of the one the body's kind implies. */
	type?: string;
	signal?: AbortSignal;
}

export interface RequestOptions {
	signal?: AbortSignal;
}

export interface MessagesOptions {
	signal?: AbortSignal;
	/** Seconds each GET is held (default: the inbox's wait). */
	wait?: number;
	/** Messages asked for at once (default: the inbox's max). */
	max?: number;
}

export interface CreateRoomOptions extends RequestOptions {
	name?: string;
	password?: string;
	/** Seconds. */
	ttl?: number;
	maxMembers?: number;
	inviteOnly?: boolean;
}

/**
 * An answer of inboxd that is not a success, or a request that could not
 * be made (status 0).
 */
export class InboxdError extends Error {
	constructor(message: string, info?: { status?: number; code?: string;
	    detail?: string; retryAfter?: number | null; cause?: unknown });
	/** The HTTP status; 0 when inboxd could not be reached. */
	status: number;
	/**
	 * inboxd's error word (`unauthorized`, `not_found`, `inbox_full`,
	 * ...), `unreachable`, `timeout` or `bad_response`.
	 */
	code: string;
	/** inboxd's explanation for a person, else the message. */
	detail: string;
	/** Seconds of the answer's Retry-After, or null. */
	retryAfter: number | null;
}

/** One inbox of an inboxd server, and what it may do there. */
export class Inbox {
	constructor(opts: InboxOptions);
	/** The server, without a final `/`. */
	readonly url: string;
	/** Our inbox name; null when a token does not say it. */
	user: string | null;
	/** The rooms created or joined here and not left or closed since. */
	readonly rooms: string[];

	send(to: string, body: Body, opts?: SendOptions): Promise<void>;
	/** Resolves to the name of the inbox the PIN named (X-To). */
	sendByPin(pin: string, body: Body, opts?: SendOptions): Promise<string>;
	pin(opts?: RequestOptions): Promise<{ pin: string; expiresIn: number }>;

	createRoom(opts?: CreateRoomOptions): Promise<CreatedRoom>;
	join(room: string, secret?: string | null,
	    opts?: RequestOptions): Promise<RoomInfo>;
	members(room: string, opts?: RequestOptions): Promise<RoomInfo>;
	/** Leave, or (as the creator) remove `name`. */
	leave(room: string, name?: string | null,
	    opts?: RequestOptions): Promise<void>;
	sendToRoom(room: string, body: Body, opts?: SendOptions):
	    Promise<{ delivered: string[]; failed: Record<string, string> }>;
	invite(room: string, peer: string, opts?: RequestOptions): Promise<void>;
	/** Close a room we created. */
	close(room: string, opts?: RequestOptions): Promise<void>;

	/** `[]` when inboxd has no /ice. */
	iceServers(opts?: RequestOptions): Promise<RTCIceServer[]>;

	/** The receive loop: see README. */
	messages(opts?: MessagesOptions): AsyncGenerator<Message, void, undefined>;
	/** End the loop and every request in flight, at once. */
	stop(): void;
	/** Leave our rooms with keepalive fetches on pagehide, and stop(). */
	leaveOnPagehide(opts?: { rooms?: () => string[];
	    target?: EventTarget }): () => void;
}

/** Whether a Content-Type is text, so that a body comes as a string. */
export function isTextType(type: string | null | undefined): boolean;
/** `Basic` + base64 of the UTF-8 of `user:password` (RFC 7617). */
export function basicAuth(user: string, password: string): string;
/** The base64 of some bytes (RFC 4648). */
export function base64(bytes: Uint8Array): string;

/*
 * RTCIceServer, for Node projects whose lib has no DOM: the same shape as
 * the DOM's.
 */
declare global {
	interface RTCIceServer {
		urls: string | string[];
		username?: string;
		credential?: string;
	}
}

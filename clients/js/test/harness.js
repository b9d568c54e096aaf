/*
 * harness.js - what the suites of inboxd.js share: the real inboxd
 * ($INBOXD, default the one at the top of the tree) started on a free
 * port of 127.0.0.1 with a config and a temporary folder of the test's
 * own, and stopped when the test ends; a proxy in front of it that can
 * cut, swallow, replay or refuse responses; and waiting for a condition
 * with a deadline instead of sleeping.
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The daemon under test. */
export const INBOXD = path.resolve(process.env.INBOXD ||
    path.join(here, '../../../inboxd'));

/*
 * inboxd with cheap Argon2id and these config lines, on port (0: any
 * free one); resolves once it listens.  t.after() stops it.
 */
export async function startInboxd(t, config = [], port = 0) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inboxd-js-'));
	const d = {
		dir, config, port: 0, url: null, log: '', proc: null,
		/* SIGTERM, and its exit; inboxd must exit 0. */
		async stop() {
			const p = d.proc;

			if (!p)
				return;
			d.proc = null;
			p.kill('SIGTERM');
			const { code, sig } = await p.exited;
			if (code !== 0)
				throw new Error('inboxd exited ' + (sig || code) +
				    ' on SIGTERM:\n' + d.log);
		},
		/* A new process on the same port, memory empty. */
		start: () => launch(d, d.port),
	};

	t.after(async () => {
		if (d.proc) {
			d.proc.kill('SIGKILL');
			await d.proc.exited;
		}
		fs.rmSync(dir, { recursive: true, force: true });
	});
	await launch(d, port);
	return d;
}

function launch(d, port) {
	const conf = path.join(d.dir, 'inboxd.conf');

	fs.writeFileSync(conf, ['listen 127.0.0.1:' + port, 'threads 2',
	    'argon2-memory-kib 64', 'argon2-time-cost 1', 'log-format text',
	    ...d.config, ''].join('\n'));
	const p = spawn(INBOXD, ['-d', '-f', conf],
	    { stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';

	d.proc = p;
	p.stderr.setEncoding('utf8');
	p.exited = new Promise((resolve) =>
	    p.on('exit', (code, sig) => resolve({ code, sig })));
	return new Promise((resolve, reject) => {
		p.stderr.on('data', (chunk) => {
			log += chunk;
			d.log += chunk;
			const m = /listening on .* port (\d+)/.exec(log);
			if (m) {
				d.port = Number(m[1]);
				d.url = 'http://127.0.0.1:' + d.port;
				resolve(d);
			}
		});
		p.on('error', (e) => reject(new Error('cannot run ' + INBOXD +
		    ': ' + e.message)));
		p.exited.then(({ code, sig }) => reject(new Error('inboxd ' +
		    'exited (' + (sig || code) + ') before listening:\n' +
		    d.log)));
	});
}

/*
 * Resolve once cond() is truthy (it may be async), polling every 10 ms;
 * reject with what() after ms.
 */
export async function until(cond, ms, what) {
	const deadline = Date.now() + ms;

	for (;;) {
		const v = await cond();

		if (v)
			return v;
		if (Date.now() > deadline)
			throw new Error('not within ' + ms + ' ms: ' +
			    (typeof what === 'function' ? what() : what));
		await new Promise((r) => setTimeout(r, 10));
	}
}

/* A response of inboxd as the proxy saw it: head, body, status. */
function parseResponse(buf) {
	const end = buf.indexOf('\r\n\r\n');

	if (end < 0)
		return null;
	const head = buf.subarray(0, end + 4).toString('latin1');
	const status = Number(head.split(' ')[1]);
	const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
	const length = m ? Number(m[1]) : 0;

	if (buf.length < end + 4 + length)
		return null;
	return { status, head, size: end + 4 + length, headSize: end + 4 };
}

/*
 * A proxy of a few lines of net between the client and inboxd on port,
 * relaying requests as they are and reading inboxd's responses whole
 * (Content-Length: inboxd sends no chunked ones).  For each response,
 * decide({status, head, request, index}) picks what to do:
 *   'pass'     relay it
 *   'early'    relay its head and half its body, then cut both sockets
 *   'after'    relay all of it, then reset the client's socket at once
 *   'swallow'  relay nothing and cut both sockets
 *   'replay'   relay it, and answer the client's next request with the
 *              same bytes without asking inboxd (a second delivery)
 * inboxd has handed the response to its socket in every case.  And
 * before a request goes to inboxd, ask(requestLine, index) may return a
 * whole response to answer with instead.
 */
export async function startProxy(t, port, decide, ask) {
	const stats = { requests: 0, responses: 0, cut: 0, replayed: 0,
	    answered: 0 };
	const sockets = new Set();
	const server = net.createServer((client) => {
		const up = net.connect(port, '127.0.0.1');
		let buf = Buffer.alloc(0);
		let replay = null;
		let request = '';

		sockets.add(client);
		sockets.add(up);
		const cut = () => {
			client.destroy();
			up.destroy();
		};
		client.on('data', (chunk) => {
			request = chunk.toString('latin1').split('\r\n')[0];
			const own = ask && /^[A-Z]+ \//.test(request) ?
			    ask(request, stats.requests++) : undefined;
			if (own) {
				stats.answered++;
				client.write(own);
				return;
			}
			if (replay) {
				const b = replay;

				replay = null;
				stats.replayed++;
				client.write(b);
				return;
			}
			up.write(chunk);
		});
		up.on('data', (chunk) => {
			buf = Buffer.concat([buf, chunk]);
			for (;;) {
				const r = parseResponse(buf);

				if (!r)
					return;
				const bytes = buf.subarray(0, r.size);
				buf = buf.subarray(r.size);
				const how = decide ? decide({ status: r.status,
				    head: r.head, request,
				    index: stats.responses++ }) : 'pass';
				if (how === 'pass' || how === undefined) {
					client.write(bytes);
				} else if (how === 'replay') {
					client.write(bytes);
					replay = Buffer.from(bytes);
				} else if (how === 'early') {
					stats.cut++;
					client.write(bytes.subarray(0, r.headSize +
					    Math.floor((r.size - r.headSize) /
					    2)), cut);
					return;
				} else if (how === 'after') {
					stats.cut++;
					client.write(bytes);
					client.resetAndDestroy();
					up.destroy();
					return;
				} else if (how === 'swallow') {
					stats.cut++;
					cut();
					return;
				}
			}
		});
		client.on('error', () => up.destroy());
		up.on('error', () => client.destroy());
		client.on('close', () => {
			sockets.delete(client);
			up.destroy();
		});
		up.on('close', () => {
			sockets.delete(up);
			client.destroy();
		});
	});

	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	t.after(() => {
		for (const s of sockets)
			s.destroy();
		server.close();
	});
	return { url: 'http://127.0.0.1:' + server.address().port, stats };
}

/*
 * Run a receive loop of inbox into an array in the background; returns
 * {got, done, error}, done settling when the loop ends.
 */
export function collect(inbox, opts) {
	const c = { got: [], error: null };

	c.done = (async () => {
		try {
			for await (const m of inbox.messages(opts))
				c.got.push(m);
		} catch (e) {
			c.error = e;
		}
	})();
	return c;
}

/* A name no earlier run has used. */
export function unique(prefix) {
	return prefix + '-' + process.pid + '-' +
	    Math.random().toString(36).slice(2, 8);
}

#!/usr/bin/env node
/*
 * relay.js - two headless Chromium pages of examples/webrtc pair through
 * inboxd with a PIN and connect through a TURN relay only
 * (?policy=relay: iceTransportPolicy 'relay'), with the credentials
 * inboxd's GET /ice hands out, from a real coturn (Debian's package
 * `coturn', etc/coturn/turnserver.conf) that this test starts on
 * loopback.  The data channel must open, and each page's selected
 * candidate pair (getStats()) must be relay at both ends; inboxd must
 * have handed out credentials (inboxd_ice_credentials_total).
 *
 * Run by run.sh inside a network namespace that has only loopback, where
 * Chromium (--allow-loopback-in-peer-connection) and coturn
 * (allow-loopback-peers) relay on 127.0.0.1 as they would on a public
 * address.  Exits 0 on success, 1 with the reason on failure; gives up
 * after 60 s.
 */
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const { BrowserTest, fail } = require('./lib');

const t = new BrowserTest('relay', { timeoutMs: 60000 });
const SHIPPED = path.resolve(__dirname, '../../etc/coturn/turnserver.conf');
const SECRET = crypto.randomBytes(24).toString('hex');
const TURN_PORT = 3478;	/* the namespace is the test's: no other coturn */

let turn = null;
let turnLog = '';

/* coturn on 127.0.0.1 with the shipped configuration, this test's
 * secret and paths; resolves once it answers STUN. */
async function startCoturn(dir) {
	const own = /^(listening-port|static-auth-secret|log-file)=/;
	const conf = path.join(dir, 'turnserver.conf');
	const lines = fs.readFileSync(SHIPPED, 'utf8').split('\n')
	    .filter((l) => !own.test(l));

	fs.writeFileSync(conf, lines.concat([
		'listening-port=' + TURN_PORT,
		'static-auth-secret=' + SECRET,
		'log-file=stdout',
		'pidfile=' + path.join(dir, 'turnserver.pid'),
		'userdb=' + path.join(dir, 'turndb'),
		'',
	]).join('\n'));
	turn = spawn('turnserver', ['-c', conf],
	    { stdio: ['ignore', 'pipe', 'pipe'] });
	turn.stdout.setEncoding('utf8');
	turn.stdout.on('data', (s) => { turnLog += s; });
	turn.stderr.on('data', (s) => { turnLog += s; });
	turn.on('error', (e) => { turnLog += 'cannot run turnserver: ' +
	    e.message + ' (apt-get install coturn)\n'; });
	const deadline = Date.now() + 10000;
	while (Date.now() < deadline) {
		const r = spawnSync('timeout', ['1', 'turnutils_stunclient',
		    '-p', String(TURN_PORT), '127.0.0.1']);
		if (r.status === 0)
			return;
		if (turn.exitCode !== null)
			break;
		await new Promise((res) => setTimeout(res, 100));
	}
	fail('coturn did not answer STUN on 127.0.0.1:' + TURN_PORT + ':\n' +
	    turnLog.split('\n').slice(-20).join('\n'));
}

/* The selected candidate pair of the page's peer connection. */
function selectedPair(page) {
	return page.evaluate(async () => {
		const stats = await window.inboxdPeerConnection.getStats();
		let pair = null;

		stats.forEach((s) => {
			if (s.type === 'transport' && s.selectedCandidatePairId)
				pair = stats.get(s.selectedCandidatePairId);
		});
		if (pair === null)
			return null;
		const l = stats.get(pair.localCandidateId);
		const r = stats.get(pair.remoteCandidateId);
		return {
			local: l.candidateType + ' ' + l.address + ':' + l.port +
			    '/' + l.protocol + (l.relayProtocol ?
			    ' (relayed over ' + l.relayProtocol + ')' : ''),
			remote: r.candidateType + ' ' + r.address + ':' + r.port,
			localType: l.candidateType,
			remoteType: r.candidateType,
		};
	});
}

async function waitConnected(page, side) {
	const state = await page.waitForFunction(() => {
		const s = document.body.dataset.state;
		return (s === 'connected' || s === 'failed') && s;
	}, null, { timeout: 30000 }).then((h) => h.jsonValue(), () => null);
	if (state !== 'connected')
		fail('page ' + side + ' not connected (' + state + '): ' +
		    await page.evaluate(() => Array.from(
		    document.querySelectorAll('#status li')).slice(-4)
		    .map((li) => li.lastChild.textContent).join(' | ')));
}

async function test() {
	t.checkOnlyLoopback();
	t.current = 'starting coturn';
	await startCoturn(t.tmp);
	t.current = 'starting inboxd';
	const apiPort = await t.startInboxd([
		'turn-uris turn:127.0.0.1:' + TURN_PORT + '?transport=udp',
		'turn-secret ' + SECRET,
		'turn-ttl 600',
	]);
	const pagePort = await t.startStatic();
	const api = 'http://127.0.0.1:' + apiPort;
	const url = 'http://127.0.0.1:' + pagePort + '/examples/webrtc/' +
	    '?server=' + encodeURIComponent(api) +
	    '&candidates=loopback&policy=relay';

	t.current = 'starting Chromium';
	await t.launch();
	const a = await t.openPage('A', url);
	const b = await t.openPage('B', url);
	t.current = 'pairing by PIN';
	await a.click('#show-pin');
	await b.click('#enter-pin');
	const pin = await a.waitForFunction(() =>
	    document.getElementById('pin').dataset.pin, null,
	    { timeout: 15000 }).then((h) => h.jsonValue(), () => null);
	if (!/^[0-9]{4,9}$/.test(pin || ''))
		fail('page A shows no PIN');
	await b.waitForSelector('#pin-submit:not([disabled])',
	    { timeout: 15000 });
	await b.fill('#pin-input', pin);
	const submitted = Date.now();
	await b.click('#pin-submit');
	t.current = 'waiting for the relayed data channel';
	await Promise.all([waitConnected(a, 'A'), waitConnected(b, 'B')]);
	t.log('PIN submitted -> both connected through the relay: ' +
	    (Date.now() - submitted) + ' ms');

	t.current = 'reading the selected candidate pairs';
	for (const [side, page] of [['A', a], ['B', b]]) {
		const p = await selectedPair(page);
		if (p === null)
			fail('page ' + side + ' has no selected candidate pair');
		t.log('page ' + side + ' selected pair: local ' + p.local +
		    ', remote ' + p.remote);
		if (p.localType !== 'relay' || p.remoteType !== 'relay')
			fail('page ' + side + ' did not connect through the ' +
			    'relay: ' + p.local + ' to ' + p.remote);
	}
	const metrics = await (await fetch(api + '/metrics')).text();
	const m = /^inboxd_ice_credentials_total (\d+)$/m.exec(metrics);
	if (!m || Number(m[1]) < 2)
		fail('inboxd handed out ' + (m ? m[1] : 'no') +
		    ' TURN credentials; two pages need two');
	t.log('inboxd handed out ' + m[1] + ' TURN credentials');
}

process.on('exit', () => {
	if (turn !== null && turn.exitCode === null)
		turn.kill('SIGTERM');
});
t.run(test);

/**
 * CAP_FEED_URL: a loopback HTTP server stands in for a warning centre's Atom feed and its CAP
 * documents; the controller polls it at start with its own alert-source account. No TTS here:
 * an Actual alert for a village is recorded as failed and tried again at the next poll, a
 * broken document is not fetched again.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capLinks, createCapFeed, feedAccount } from '../src/domain/cap/feed.js';
import { createLogger } from '../src/log.js';
import { capXml } from './fixtures/cap/build.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { waitFor } from './helpers/wait.js';

const docs: Record<string, string> = {
  '/alerts/test.xml': capXml({
    identifier: 'FEED-TEST-1',
    status: 'Test',
    infos: [{ headline: 'Thử hệ thống', areas: [{ areaDesc: 'Thôn Hạ' }] }],
  }).xml,
  '/alerts/flood.xml': capXml({
    identifier: 'FEED-FLOOD-1',
    infos: [{ headline: 'Lũ lớn', areas: [{ areaDesc: 'Thôn Hạ' }] }],
  }).xml,
  '/alerts/broken.xml': '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>',
};
const atom = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Cảnh báo thiên tai</title>
  <entry><id>1</id><title>Thử</title><link rel="alternate" type="text/html" href="/web/1"/><link rel="related" type="application/cap+xml" href="/alerts/test.xml"/></entry>
  <entry><id>2</id><title>Lũ</title><link href="alerts/flood.xml"/></entry>
  <entry><id>3</id><title>Hỏng</title><link type="application/cap+xml" href="/alerts/broken.xml"/></entry>
</feed>`;

describe('CAP feed', () => {
  let server: Server;
  let feedUrl = '';
  const hits = new Map<string, number>();
  let tc: TestController;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '';
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === '/feed.atom')
        return void res.writeHead(200, { 'content-type': 'application/atom+xml' }).end(atom);
      const doc = docs[path];
      if (!doc) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/cap+xml' }).end(doc);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    feedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.atom`;
    // The village exists before the controller that polls the feed starts (on the same data).
    const first = await startTestController({}, { keepData: true });
    expect((await first.api('POST', '/api/zones', { id: 'thon-ha', name: 'Thôn Hạ' })).status).toBe(201);
    await first.stop();
    tc = await startTestController(
      { CAP_FEED_URL: feedUrl, CAP_FEED_INTERVAL_S: '3600', TTS_PROVIDER: 'off' },
      { dataDir: first.dataDir },
    );
  });
  afterAll(async () => {
    await tc?.stop();
    await new Promise((r) => server?.close(r));
  });

  it('reads the CAP links of Atom and RSS feeds', () => {
    expect(capLinks(atom, feedUrl).map((u) => new URL(u).pathname)).toEqual([
      '/alerts/test.xml',
      '/alerts/flood.xml',
      '/alerts/broken.xml',
    ]);
    const rss = `<rss version="2.0"><channel><title>x</title>
      <item><title>a</title><link>https://example.invalid/a.xml</link></item>
      <item><title>b</title><link>https://example.invalid/b.html</link><enclosure url="https://example.invalid/b.cap" type="application/cap+xml" length="1"/></item>
      <item><title>c</title><link>javascript:alert(1)</link></item>
    </channel></rss>`;
    expect(capLinks(rss, feedUrl)).toEqual([
      'https://example.invalid/a.xml',
      'https://example.invalid/b.cap',
    ]);
    expect(() => capLinks('<!DOCTYPE x><feed/>', feedUrl)).toThrow(/DOCTYPE/);
    expect(() => capLinks('<html/>', feedUrl)).toThrow(/not an Atom or RSS feed/);
  });

  it('polls at start: each entry handled like a POST by the feed account; failures retried, broken ones not', async () => {
    interface Row {
      identifier: string;
      outcome: string;
      receivedBy: string | null;
    }
    const list = await waitFor('both alerts recorded', async () => {
      const r = await tc.api<{ items: Row[] }>('GET', '/api/cap');
      return r.body.items.length === 2 ? r.body.items : null;
    });
    const users = await tc.api<{ items: { id: string; username: string; roles: string[] }[] }>(
      'GET',
      '/api/users',
    );
    const account = users.body.items.find((u) => u.username === 'cap-feed');
    expect(account?.roles).toEqual(['alerter']);
    expect(Object.fromEntries(list.map((a) => [a.identifier, a.outcome]))).toEqual({
      'FEED-TEST-1': 'not_actual',
      'FEED-FLOOD-1': 'failed',
    });
    expect(list.every((a) => a.receivedBy === account!.id)).toBe(true);
    await waitFor('the broken document fetched', () => hits.get('/alerts/broken.xml') === 1);

    // A second poll (a feed object of its own, on the same controller) fetches only what must be
    // tried again: the failed alert; the test one was done and the broken one can never be read.
    const feed = createCapFeed({
      url: feedUrl,
      intervalS: 3600,
      cap: tc.controller.cap,
      principal: await feedAccount(tc.controller.auth.users, 'cap-feed'),
      maxAlertBytes: 65536,
      log: createLogger('silent', false),
    });
    const first = await feed.poll();
    expect(first).toEqual({ links: 3, handled: 1, failed: 2 });
    const before = { ...Object.fromEntries(hits) };
    const second = await feed.poll();
    expect(second).toEqual({ links: 3, handled: 0, failed: 1 });
    expect(hits.get('/alerts/flood.xml')).toBe((before['/alerts/flood.xml'] ?? 0) + 1);
    expect(hits.get('/alerts/broken.xml')).toBe(before['/alerts/broken.xml']);
    expect(hits.get('/alerts/test.xml')).toBe(before['/alerts/test.xml']);
    await feed.stop();
  });

  it('refuses an officer account as the feed account', async () => {
    await expect(feedAccount(tc.controller.auth.users, 'admin')).rejects.toThrow(/officer's account/);
  });
});

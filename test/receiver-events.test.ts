/**
 * The receiver stream's wire form (GET /api/receivers/events): gzip-compressed for a client that
 * accepts it, each event flushed whole so that it arrives at once (a change, not only the
 * snapshot, is readable the moment it is sent); plain text for a client that does not.
 */

import type { IncomingMessage } from 'node:http';
import { request } from 'node:http';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestController, type TestController } from './helpers/controller.js';
import { waitFor } from './helpers/wait.js';

describe('receiver stream on the wire', () => {
  let tc: TestController;

  beforeAll(async () => {
    tc = await startTestController();
    await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
    await tc.register('ev-01', 'thon-1', 'Loa một');
  });
  afterAll(async () => {
    await tc?.stop();
  });

  /** Opens the stream with node:http (no automatic decoding); text is what the client can read. */
  async function open(acceptEncoding: string | null) {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${tc.url}/api/receivers/events`, {
        headers: {
          authorization: `Bearer ${tc.token}`,
          ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}),
        },
      });
      req.on('response', resolve).on('error', reject).end();
    });
    const body = res.headers['content-encoding'] === 'gzip' ? res.pipe(createGunzip()) : res;
    let text = '';
    let wire = 0;
    res.on('data', (chunk: Buffer) => {
      wire += chunk.length;
    });
    body.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    body.on('error', () => {});
    return {
      res,
      text: () => text,
      wire: () => wire,
      close: () => res.destroy(),
    };
  }

  it('is gzip when accepted, and a change arrives decodable at once', async () => {
    const s = await open('gzip, deflate, br');
    try {
      expect(s.res.statusCode).toBe(200);
      expect(s.res.headers['content-encoding']).toBe('gzip');
      expect(s.res.headers.vary).toMatch(/accept-encoding/i);
      await waitFor('snapshot', () => s.text().includes('event: snapshot'), 5000);
      expect(s.text()).toContain('"id":"ev-01"');
      // The stream stays open: a rename is an event the client can decode while it is still open.
      expect((await tc.api('PATCH', '/api/receivers/ev-01', { name: 'Loa đổi tên' })).status).toBe(200);
      await waitFor('renamed', () => s.text().includes('"name":"Loa đổi tên"'), 5000);
      expect(s.text()).toMatch(/event: receiver\ndata: \{[^\n]*"name":"Loa đổi tên"[^\n]*\}\n\n/);
      expect(s.wire()).toBeLessThan(Buffer.byteLength(s.text()));
    } finally {
      s.close();
    }
  });

  it('is plain text for a client that does not accept gzip', async () => {
    const s = await open(null);
    try {
      expect(s.res.headers['content-encoding']).toBeUndefined();
      await waitFor('snapshot', () => s.text().includes('event: snapshot'), 5000);
      expect(s.text()).toMatch(/^retry: 3000\nevent: snapshot\ndata: \{.*"ev-01".*\}\n\n/s);
    } finally {
      s.close();
    }
  });
});

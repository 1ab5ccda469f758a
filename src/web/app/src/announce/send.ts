/**
 * Sending a draft: the recorded clip is uploaded once (its library id is kept in the draft, so a
 * retry after a dropped connection does not upload it again), then POST /api/announcements with
 * the draft's Idempotency-Key, so a retry after a lost answer does not announce twice.
 */

import { extensionFor } from '../../../wav-encode';
import { api } from '../api';
import { type Draft, saveDraft } from './draft';

export interface Sent {
  announcement: { id: string; status: string };
}

export async function uploadClip(draft: Draft): Promise<string> {
  if (draft.clipAudioId) return draft.clipAudioId;
  if (!draft.clip) throw new Error('no clip');
  const form = new FormData();
  const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
  form.append('name', `Ghi âm ${stamp}`);
  form.append('file', draft.clip, `ghi-am.${extensionFor(draft.clip.type)}`);
  const up = await api<{ audio: { id: string } }>('POST', '/api/audio', form);
  draft.clipAudioId = up.audio.id;
  await saveDraft(draft);
  return up.audio.id;
}

export async function sendDraft(draft: Draft, pin?: string): Promise<Sent> {
  const content =
    draft.mode === 'voice'
      ? { kind: 'audio', audioId: await uploadClip(draft) }
      : { kind: 'text', text: draft.text, voice: draft.voice, speed: draft.speed };
  return api<Sent>(
    'POST',
    '/api/announcements',
    {
      content,
      // sorted: the same villages ticked in another order are the same request to retry
      target: draft.all ? { all: true } : { zones: [...draft.zones].sort() },
      priority: draft.priority,
      repeat: draft.repeat,
      ...(draft.volume === null ? {} : { volume: draft.volume }),
      ...(pin ? { confirm: { pin } } : {}),
    },
    // a Structured Field String, as the IETF draft writes it
    { 'idempotency-key': `"${draft.key}"` },
  );
}

/** Whether the server will ask for the PIN (the confirmation rule for emergencies to every village). */
export const asksPin = (draft: Draft, zoneCount: number): boolean =>
  draft.priority !== 'normal' && (draft.all || (zoneCount > 0 && draft.zones.length >= zoneCount));

/**
 * The announcement being written, kept on the phone (IndexedDB, so the recorded clip is kept as a
 * Blob too) until the server has taken it: a dropped connection or a reload loses nothing.
 */
export type Priority = 'normal' | 'priority' | 'emergency';
export type Voice = 'north' | 'central' | 'south';

export interface Draft {
  mode: 'voice' | 'text';
  all: boolean;
  zones: string[];
  text: string;
  voice: Voice;
  speed: number;
  priority: Priority;
  repeat: number;
  /** null: the receivers keep their own volume */
  volume: number | null;
  /** the recorded clip (already WAV when the browser recorded AAC) */
  clip: Blob | null;
  clipMs: number;
  /** the library id of `clip` once uploaded, so that a retry does not upload it again */
  clipAudioId: string | null;
  /**
   * the Idempotency-Key sent with this draft: a retry after a lost answer sends the same key, so
   * the server answers what it did the first time instead of announcing twice
   */
  key: string;
}

/**
 * A fresh random key. crypto.randomUUID exists only in secure contexts, and on the commune LAN the
 * app is opened over plain HTTP (http://192.168.x.y:8080): getRandomValues works everywhere.
 */
export function newKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40; // version 4
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const emptyDraft = (): Draft => ({
  mode: 'voice',
  all: false,
  zones: [],
  text: '',
  voice: 'north',
  speed: 1,
  priority: 'emergency',
  repeat: 2,
  volume: null,
  clip: null,
  clipMs: 0,
  clipAudioId: null,
  key: newKey(),
});

const DB = 'loalang-drafts';
const STORE = 'drafts';
const KEY = 'announce';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = op(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The kept draft, or a fresh one (also when the phone's storage cannot be read). */
export async function loadDraft(): Promise<Draft> {
  try {
    const kept = await run<Partial<Draft> | undefined>('readonly', (s) => s.get(KEY));
    const draft = { ...emptyDraft(), ...(kept ?? {}) };
    // a draft kept before drafts had keys gets its key kept now, before anything sends it
    if (kept && !kept.key) await saveDraft(draft);
    return draft;
  } catch {
    return emptyDraft();
  }
}

/** Keeps `draft`; failures are ignored (private mode): the form still works. */
export async function saveDraft(draft: Draft): Promise<void> {
  try {
    await run('readwrite', (s) => s.put(draft, KEY));
  } catch {
    /* nothing to keep it in */
  }
}

export async function clearDraft(): Promise<void> {
  try {
    await run('readwrite', (s) => s.delete(KEY));
  } catch {
    /* nothing kept */
  }
}

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
    return { ...emptyDraft(), ...(kept ?? {}) };
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

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AudioCacheIndex, NewCacheEntry } from '../../src/ports/audio-cache-index.ts';
import { keyOf } from '../support/cache-keys.ts';
import { at, DAY, HOUR, MINUTE, T0 } from '../support/time.ts';

/** An audio_cache row as the harness reads it back, with what the port itself does not return. */
export interface StoredRow {
  tenantId: string;
  text: string;
  audioBlobPath: string;
  hitCount: number;
  lastAccessedAt: Date;
  createdAt: Date;
  expiresAt: Date | null;
  /** Whether the row has an ownership note: one this service wrote, its cleanup's to delete. */
  ours: boolean;
}

/** A tenant's figures for one hour (audio_cache_usage). */
export interface UsageFigures {
  hour: Date;
  hits: number;
  misses: number;
  charactersSaved: number;
  /** Entries predictive prewarm stored, their characters, and the plays such entries served. */
  predictiveSyntheses: number;
  predictiveCharacters: number;
  predictiveHits: number;
}

/** An hour's figures: those given, every other one 0. */
function figures(hour: Date, given: Partial<Omit<UsageFigures, 'hour'>> = {}): UsageFigures {
  const zero = { hits: 0, misses: 0, charactersSaved: 0, predictiveSyntheses: 0, predictiveCharacters: 0 };
  return { hour, ...zero, predictiveHits: 0, ...given };
}

/** A row the Khipu Cloud API stored (no ownership note), at `audio-cache/{tenant}/{key}.mp3`. */
export interface ForeignRow {
  tenantId: string;
  cacheKey: string;
  text?: string;
  createdAt: Date;
  expiresAt: Date | null;
}

export interface AudioCacheIndexUnderTest {
  index: AudioCacheIndex;
  /** Makes the tenant known (the Khipu database's audio_cache has a foreign key to tenants). */
  addTenant(tenantId: string): Promise<void>;
  putForeignRow(row: ForeignRow): Promise<void>;
  /** Deletes the row as another writer does (its own cleanup, a cascade): an ownership note stays. */
  deleteRowAsAnotherWriter(cacheKey: string): Promise<void>;
  row(cacheKey: string): Promise<StoredRow | null>;
  /** The tenant's hourly usage figures, in hour order. */
  usage(tenantId: string): Promise<UsageFigures[]>;
  /** Where the ownership note under this key says the blob is (null: no note); null fields: the operator's account. */
  note(cacheKey: string): Promise<{ storeId: string | null; projectId: string | null } | null>;
  /** The registry of project accounts written to (audio_cache_blob_stores), by tenant and store id. */
  registry(): Promise<RegistryRow[]>;
  dispose(): Promise<void>;
}

/** A project account the service wrote to, for one tenant (audio_cache_blob_stores). */
export interface RegistryRow {
  tenantId: string;
  storeId: string;
  projectId: string;
  firstWrittenAt: Date;
  lastWrittenAt: Date;
}

const TENANT = '3b0f5a52-6c1e-4d7a-9f4e-2a8c1d9e7b10';
/** Two projects' own accounts (ProjectStorage.storeId), and the projects that store there. */
const STORE_1 = 'https://acmebooks.blob.core.windows.net/audios';
const STORE_2 = 'https://acmenarration.blob.core.windows.net/voices';
const PROJECT_1 = '11111111-0000-4000-8000-000000000001';
const PROJECT_2 = '22222222-0000-4000-8000-000000000002';
const OTHER_TENANT = 'c4e2d1f0-8a7b-4c3d-b2e1-f0a9b8c7d6e5';

/** "Érase una vez 🎧": 15 characters as Postgres counts them (code points), 16 UTF-16 units. */
const TEXT = 'Érase una vez 🎧';
const TEXT_CHARS = 15;

function newEntry(overrides: Partial<NewCacheEntry> = {}): NewCacheEntry {
  const tenantId = overrides.tenantId ?? TENANT;
  const cacheKey = overrides.cacheKey ?? keyOf('a line');
  return {
    tenantId,
    cacheKey,
    text: TEXT,
    ssml: `<speak version="1.0" xml:lang="es-AR"><voice name="es-AR-ElenaNeural">${TEXT}</voice></speak>`,
    voiceId: 'es-AR-ElenaNeural',
    voiceSettings: {
      style: 'none',
      styledegree: 1,
      rate_pct: 0,
      pitch_pct: 0,
      provider: 'azure',
      output_format: 'audio-24khz-48kbitrate-mono-mp3',
    },
    audioBlobPath: `audio-cache/${tenantId}/${cacheKey}.mp3`,
    audioUrl: `https://storage.test/khipu/audio-cache/${tenantId}/${cacheKey}.mp3`,
    audioDurationSeconds: 2.5,
    audioFileSizeBytes: 40_000,
    createdAt: T0,
    expiresAt: at(30 * DAY),
    ...overrides,
  };
}

/**
 * The behaviour the audition service (src/cache/audio-cache.ts) and the hit recorder rely on
 * from any AudioCacheIndex, run against the in-memory twin and against Postgres (both database
 * shapes), so that the two agree.
 */
export function describeAudioCacheIndexContract(name: string, create: () => Promise<AudioCacheIndexUnderTest>): void {
  describe(`AudioCacheIndex contract: ${name}`, () => {
    let db: AudioCacheIndexUnderTest;
    let index: AudioCacheIndex;
    beforeEach(async () => {
      db = await create();
      index = db.index;
      await db.addTenant(TENANT);
      await db.addTenant(OTHER_TENANT);
    });
    afterEach(() => db.dispose());

    it('stores a new entry and finds it under its key, with the fields the service reads', async () => {
      const entry = newEntry();
      const unknownLength = newEntry({ cacheKey: keyOf('no duration'), audioDurationSeconds: null });
      expect(await index.insert(entry)).toBe(true);
      expect(await index.insert(unknownLength)).toBe(true);

      expect(await index.find(entry.cacheKey)).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        tenantId: TENANT,
        cacheKey: entry.cacheKey,
        audioBlobPath: entry.audioBlobPath,
        audioDurationSeconds: 2.5,
        expiresAt: at(30 * DAY),
        storeId: null,
      });
      expect((await index.find(unknownLength.cacheKey))?.audioDurationSeconds).toBeNull();
      expect(await db.row(entry.cacheKey)).toEqual({
        tenantId: TENANT,
        text: TEXT,
        audioBlobPath: entry.audioBlobPath,
        hitCount: 0,
        lastAccessedAt: T0,
        createdAt: T0,
        expiresAt: at(30 * DAY),
        ours: true,
      });
    });

    it('finds nothing under a key with no row, nor once another writer deleted the row', async () => {
      expect(await index.find(keyOf('never stored'))).toBeNull();
      const entry = newEntry();
      await index.insert(entry);
      await db.deleteRowAsAnotherWriter(entry.cacheKey);
      expect(await index.find(entry.cacheKey)).toBeNull();
    });

    it('finds another writer’s row too, whatever its age (an expired one included)', async () => {
      const cacheKey = keyOf('narration');
      await db.putForeignRow({ tenantId: OTHER_TENANT, cacheKey, createdAt: at(-40 * DAY), expiresAt: at(-10 * DAY) });
      expect(await index.find(cacheKey)).toEqual({
        id: expect.any(String),
        tenantId: OTHER_TENANT,
        cacheKey,
        audioBlobPath: `audio-cache/${OTHER_TENANT}/${cacheKey}.mp3`,
        audioDurationSeconds: null,
        expiresAt: at(-10 * DAY),
        storeId: null,
      });
    });

    it('insert: false when the key holds an entry already; the first entry and its plays stay', async () => {
      const first = newEntry();
      expect(await index.insert(first)).toBe(true);
      await index.recordHits([{ cacheKey: first.cacheKey, hits: 3, lastAccessedAt: at(HOUR) }]);
      const id = (await index.find(first.cacheKey))!.id;

      const second = newEntry({
        audioBlobPath: 'audio-cache/elsewhere.mp3',
        createdAt: at(2 * HOUR),
        expiresAt: at(60 * DAY),
      });
      expect(await index.insert(second)).toBe(false);

      expect(await index.find(first.cacheKey)).toMatchObject({
        id,
        audioBlobPath: first.audioBlobPath,
        expiresAt: at(30 * DAY),
      });
      expect(await db.row(first.cacheKey)).toMatchObject({ hitCount: 3, lastAccessedAt: at(HOUR), createdAt: T0 });
    });

    it('insert: of four instances storing the same key at once, exactly one wins', async () => {
      const results = await Promise.all([1, 2, 3, 4].map((n) => index.insert(newEntry({ audioFileSizeBytes: n }))));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await db.row(keyOf('a line'))).toMatchObject({ hitCount: 0, ours: true });
    });

    it('insert never claims another writer’s row under the key, and replace never overwrites it', async () => {
      const cacheKey = keyOf('narration');
      await db.putForeignRow({
        tenantId: OTHER_TENANT,
        cacheKey,
        text: 'Capítulo uno',
        createdAt: at(-40 * DAY),
        expiresAt: at(-10 * DAY),
      });
      const before = await db.row(cacheKey);
      expect(before).toMatchObject({ tenantId: OTHER_TENANT, text: 'Capítulo uno', ours: false });

      expect(await index.insert(newEntry({ cacheKey }))).toBe(false);
      await index.replace(newEntry({ cacheKey })); // expired: what the service does after losing an insert

      expect(await db.row(cacheKey)).toEqual(before);
    });

    it('replace overwrites an entry of ours in place (healing it): new audio and expiry, counts reset', async () => {
      const stale = newEntry({ createdAt: at(-31 * DAY), expiresAt: at(-DAY) });
      await index.insert(stale);
      await index.recordHits([{ cacheKey: stale.cacheKey, hits: 7, lastAccessedAt: at(-2 * DAY) }]);
      const { id } = (await index.find(stale.cacheKey))!;

      const fresh = newEntry({
        text: 'Otra vez',
        audioBlobPath: 'audio-cache/healed.mp3',
        audioDurationSeconds: 1.25,
        createdAt: T0,
        expiresAt: at(30 * DAY),
      });
      await index.replace(fresh);

      expect(await index.find(stale.cacheKey)).toEqual({
        id,
        tenantId: TENANT,
        cacheKey: stale.cacheKey,
        audioBlobPath: 'audio-cache/healed.mp3',
        audioDurationSeconds: 1.25,
        expiresAt: at(30 * DAY),
        storeId: null,
      });
      expect(await db.row(stale.cacheKey)).toEqual({
        tenantId: TENANT,
        text: 'Otra vez',
        audioBlobPath: 'audio-cache/healed.mp3',
        hitCount: 0,
        lastAccessedAt: T0,
        createdAt: T0,
        expiresAt: at(30 * DAY),
        ours: true,
      });
    });

    it('replace creates nothing under a key with no row (never stored, or deleted by another writer)', async () => {
      await index.replace(newEntry({ cacheKey: keyOf('never stored') }));
      expect(await db.row(keyOf('never stored'))).toBeNull();

      const gone = newEntry();
      await index.insert(gone);
      await db.deleteRowAsAnotherWriter(gone.cacheKey); // its ownership note stays
      await index.replace(gone);
      expect(await db.row(gone.cacheKey)).toBeNull();
      expect(await index.find(gone.cacheKey)).toBeNull();
    });

    it('recordHits adds the plays to hit_count and moves last_accessed_at to the latest play, never back', async () => {
      const entry = newEntry();
      await index.insert(entry);

      expect(await index.recordHits([{ cacheKey: entry.cacheKey, hits: 2, lastAccessedAt: at(2 * HOUR) }])).toEqual([]);
      expect(await db.row(entry.cacheKey)).toMatchObject({ hitCount: 2, lastAccessedAt: at(2 * HOUR) });

      // A batch put back after a failed flush carries an older play.
      expect(await index.recordHits([{ cacheKey: entry.cacheKey, hits: 3, lastAccessedAt: at(HOUR) }])).toEqual([]);
      expect(await db.row(entry.cacheKey)).toMatchObject({ hitCount: 5, lastAccessedAt: at(2 * HOUR), createdAt: T0 });
    });

    it('recordHits resolves with the keys that have no row, in batch order, and counts the others', async () => {
      const [a, b, gone] = ['a', 'b', 'gone'].map((label) => newEntry({ cacheKey: keyOf(label) })) as [
        NewCacheEntry,
        NewCacheEntry,
        NewCacheEntry,
      ];
      for (const entry of [a, b, gone]) await index.insert(entry);
      await db.deleteRowAsAnotherWriter(gone.cacheKey);
      const play = (cacheKey: string, hits: number) => ({ cacheKey, hits, lastAccessedAt: at(HOUR) });

      const unmatched = await index.recordHits([
        play(keyOf('still storing'), 1),
        play(a.cacheKey, 4),
        play(gone.cacheKey, 2),
        play(b.cacheKey, 1),
        play(keyOf('purged'), 9),
      ]);

      expect(unmatched).toEqual([keyOf('still storing'), gone.cacheKey, keyOf('purged')]);
      expect((await db.row(a.cacheKey))?.hitCount).toBe(4);
      expect((await db.row(b.cacheKey))?.hitCount).toBe(1);
      expect(await db.row(gone.cacheKey)).toBeNull();
      expect(await db.usage(TENANT)).toEqual([
        figures(at(HOUR), { hits: 5, misses: 0, charactersSaved: 5 * TEXT_CHARS }),
      ]);
      expect(await index.recordHits([])).toEqual([]);
    });

    it('recordHits adds the plays to their tenant’s usage at the UTC hour of each play, characters = plays × text length', async () => {
      const first = newEntry({ cacheKey: keyOf('first') }); // TEXT: 15 characters
      const second = newEntry({ cacheKey: keyOf('second'), text: 'ñandú' }); // 5
      const others = newEntry({ tenantId: OTHER_TENANT, cacheKey: keyOf('others'), text: 'Hola' }); // 4
      for (const entry of [first, second, others]) await index.insert(entry);

      await index.recordHits([
        { cacheKey: first.cacheKey, hits: 3, lastAccessedAt: at(HOUR - 1) }, // 16:59:59.999
        { cacheKey: second.cacheKey, hits: 2, lastAccessedAt: T0 }, // 16:00 sharp
        { cacheKey: others.cacheKey, hits: 1, lastAccessedAt: at(HOUR) }, // 17:00 sharp
      ]);
      await index.recordHits([
        { cacheKey: first.cacheKey, hits: 1, lastAccessedAt: at(30 * 60_000) }, // the same hour again
        { cacheKey: second.cacheKey, hits: 4, lastAccessedAt: at(2 * HOUR + 30 * 60_000) }, // 18:30
      ]);

      expect(await db.usage(TENANT)).toEqual([
        figures(T0, { hits: 6, misses: 0, charactersSaved: 4 * TEXT_CHARS + 2 * 5 }),
        figures(at(2 * HOUR), { hits: 4, misses: 0, charactersSaved: 4 * 5 }),
      ]);
      expect(await db.usage(OTHER_TENANT)).toEqual([figures(at(HOUR), { hits: 1, misses: 0, charactersSaved: 4 })]);
    });

    it('recordHits writes batches larger than one statement takes (1,201 keys)', async () => {
      const stored = [0, 1_000, 1_200].map((position) => newEntry({ cacheKey: keyOf(`key ${position}`) }));
      for (const entry of stored) await index.insert(entry);
      const batch = Array.from({ length: 1_201 }, (_, i) => ({
        cacheKey: keyOf(`key ${i}`),
        hits: 2,
        lastAccessedAt: at(HOUR),
      }));

      const unmatched = await index.recordHits(batch);

      const storedKeys = new Set(stored.map((entry) => entry.cacheKey));
      expect(unmatched).toEqual(batch.map((hit) => hit.cacheKey).filter((key) => !storedKeys.has(key)));
      for (const entry of stored)
        expect(await db.row(entry.cacheKey)).toMatchObject({ hitCount: 2, lastAccessedAt: at(HOUR) });
      expect(await db.usage(TENANT)).toEqual([
        figures(at(HOUR), { hits: 6, misses: 0, charactersSaved: 6 * TEXT_CHARS }),
      ]);
    });

    it('recordMisses adds syntheses to each tenant’s usage for the hour, beside the plays already there', async () => {
      const entry = newEntry();
      await index.insert(entry);
      await index.recordHits([{ cacheKey: entry.cacheKey, hits: 2, lastAccessedAt: at(10 * 60_000) }]);

      await index.recordMisses([
        { tenantId: TENANT, hour: T0, misses: 2 },
        { tenantId: OTHER_TENANT, hour: at(HOUR), misses: 1 },
      ]);
      await index.recordMisses([{ tenantId: TENANT, hour: T0, misses: 3 }]);
      await index.recordMisses([]);

      expect(await db.usage(TENANT)).toEqual([figures(T0, { hits: 2, misses: 5, charactersSaved: 2 * TEXT_CHARS })]);
      expect(await db.usage(OTHER_TENANT)).toEqual([figures(at(HOUR), { hits: 0, misses: 1, charactersSaved: 0 })]);
    });

    it('insert of a predictive entry counts its synthesis and characters once, in the tenant’s usage for the UTC hour it was stored', async () => {
      const prewarmed = newEntry({ predictive: true, createdAt: at(HOUR + 59 * MINUTE) }); // 17:59
      expect(await index.insert(prewarmed)).toBe(true);
      // The same key again, as a second instance that prewarmed at once: nothing stored, nothing counted.
      expect(await index.insert({ ...prewarmed, audioFileSizeBytes: 1, createdAt: at(2 * HOUR) })).toBe(false);
      // An audition's entry is not predictive, however it is stored.
      await index.insert(newEntry({ cacheKey: keyOf('an audition'), createdAt: at(HOUR) }));
      await index.insert(newEntry({ cacheKey: keyOf('explicitly not'), predictive: false, createdAt: at(HOUR) }));
      await index.insert(
        newEntry({ tenantId: OTHER_TENANT, cacheKey: keyOf('other'), text: 'Hola', predictive: true }),
      );

      expect(await db.usage(TENANT)).toEqual([
        figures(at(HOUR), { predictiveSyntheses: 1, predictiveCharacters: TEXT_CHARS }),
      ]);
      expect(await db.usage(OTHER_TENANT)).toEqual([figures(T0, { predictiveSyntheses: 1, predictiveCharacters: 4 })]);
    });

    it('insert of a predictive entry under another writer’s row counts nothing', async () => {
      const cacheKey = keyOf('narration');
      await db.putForeignRow({ tenantId: TENANT, cacheKey, createdAt: at(-DAY), expiresAt: null });
      expect(await index.insert(newEntry({ cacheKey, predictive: true }))).toBe(false);
      await index.replace(newEntry({ cacheKey, predictive: true }));
      expect(await db.usage(TENANT)).toEqual([]);
    });

    it('replace with a predictive entry counts its synthesis once (a retried replace counts nothing more); of no row, nothing', async () => {
      const stale = newEntry({ createdAt: at(-31 * DAY), expiresAt: at(-DAY) });
      await index.insert(stale);
      const healed = newEntry({ text: 'ñandú', audioBlobPath: 'audio-cache/healed.mp3', predictive: true });

      await index.replace(healed);
      await index.replace(healed); // its connection died after the commit: tried again
      await index.replace(newEntry({ cacheKey: keyOf('never stored'), predictive: true }));

      expect(await db.usage(TENANT)).toEqual([figures(T0, { predictiveSyntheses: 1, predictiveCharacters: 5 })]);
      expect(await db.row(healed.cacheKey)).toMatchObject({ text: 'ñandú', ours: true, createdAt: T0 });

      // Healed once more, an hour later, with new audio: another synthesis.
      await index.replace({ ...healed, audioBlobPath: 'audio-cache/again.mp3', createdAt: at(HOUR) });
      expect(await db.usage(TENANT)).toEqual([
        figures(T0, { predictiveSyntheses: 1, predictiveCharacters: 5 }),
        figures(at(HOUR), { predictiveSyntheses: 1, predictiveCharacters: 5 }),
      ]);
    });

    it('recordHits counts the plays of entries predictive prewarm stored as predictive hits too, and of no other entry', async () => {
      const prewarmed = newEntry({ cacheKey: keyOf('prewarmed'), predictive: true });
      const auditioned = newEntry({ cacheKey: keyOf('auditioned'), text: 'ñandú' });
      const narration = keyOf('narration');
      for (const entry of [prewarmed, auditioned]) await index.insert(entry);
      await db.putForeignRow({ tenantId: TENANT, cacheKey: narration, text: 'Hola', createdAt: T0, expiresAt: null });

      await index.recordHits([
        { cacheKey: prewarmed.cacheKey, hits: 3, lastAccessedAt: at(HOUR) },
        { cacheKey: auditioned.cacheKey, hits: 2, lastAccessedAt: at(HOUR) },
        { cacheKey: narration, hits: 1, lastAccessedAt: at(HOUR) },
      ]);
      await index.recordHits([{ cacheKey: prewarmed.cacheKey, hits: 4, lastAccessedAt: at(2 * HOUR) }]);

      const spend = { predictiveSyntheses: 1, predictiveCharacters: TEXT_CHARS };
      expect(await db.usage(TENANT)).toEqual([
        figures(T0, spend),
        figures(at(HOUR), { hits: 6, charactersSaved: 3 * TEXT_CHARS + 2 * 5 + 4, predictiveHits: 3 }),
        figures(at(2 * HOUR), { hits: 4, charactersSaved: 4 * TEXT_CHARS, predictiveHits: 4 }),
      ]);
    });

    it('an entry replaced by an audition’s is no longer predictive: its later plays are plain hits', async () => {
      const prewarmed = newEntry({ predictive: true, createdAt: at(-2 * DAY), expiresAt: at(-DAY) });
      await index.insert(prewarmed);
      await index.replace(newEntry({ audioBlobPath: 'audio-cache/healed.mp3' })); // not predictive
      await index.recordHits([{ cacheKey: prewarmed.cacheKey, hits: 2, lastAccessedAt: at(HOUR) }]);

      expect(await db.usage(TENANT)).toEqual([
        figures(at(-2 * DAY), { predictiveSyntheses: 1, predictiveCharacters: TEXT_CHARS }),
        figures(at(HOUR), { hits: 2, charactersSaved: 2 * TEXT_CHARS }),
      ]);
    });

    it('insert under a key whose row another writer deleted (its note left behind) takes the new entry’s predictive', async () => {
      const auditioned = newEntry();
      await index.insert(auditioned);
      await db.deleteRowAsAnotherWriter(auditioned.cacheKey);
      expect(await index.insert(newEntry({ predictive: true, createdAt: at(HOUR) }))).toBe(true);
      await index.recordHits([{ cacheKey: auditioned.cacheKey, hits: 1, lastAccessedAt: at(HOUR) }]);

      expect(await db.usage(TENANT)).toEqual([
        figures(at(HOUR), {
          hits: 1,
          charactersSaved: TEXT_CHARS,
          predictiveSyntheses: 1,
          predictiveCharacters: TEXT_CHARS,
          predictiveHits: 1,
        }),
      ]);
    });

    it('find answers where the blob is: the project account from the note; null for the operator’s and another writer’s', async () => {
      await index.insert(
        newEntry({ cacheKey: keyOf('in a project'), store: { storeId: STORE_1, projectId: PROJECT_1 } }),
      );
      await index.insert(newEntry({ cacheKey: keyOf('operator') }));
      await db.putForeignRow({ tenantId: TENANT, cacheKey: keyOf('narration'), createdAt: T0, expiresAt: null });

      expect((await index.find(keyOf('in a project')))?.storeId).toBe(STORE_1);
      expect((await index.find(keyOf('operator')))?.storeId).toBeNull();
      expect((await index.find(keyOf('narration')))?.storeId).toBeNull();
      expect(await db.note(keyOf('in a project'))).toEqual({ storeId: STORE_1, projectId: PROJECT_1 });
      expect(await db.note(keyOf('operator'))).toEqual({ storeId: null, projectId: null });
      expect(await db.note(keyOf('narration'))).toBeNull();
    });

    it('insert into a project account registers it for the tenant: first and latest write, the last writer’s project', async () => {
      const inStore = (label: string, tenantId: string, projectId: string, createdAt: Date) =>
        newEntry({ tenantId, cacheKey: keyOf(label), createdAt, store: { storeId: STORE_1, projectId } });
      await index.insert(inStore('first', TENANT, PROJECT_1, T0));
      await index.insert(inStore('later', TENANT, PROJECT_2, at(HOUR)));
      await index.insert(inStore('back-dated', TENANT, PROJECT_1, at(-HOUR))); // never moves the latest write back
      await index.insert(inStore('other tenant', OTHER_TENANT, PROJECT_2, at(2 * HOUR)));
      await index.insert(newEntry({ cacheKey: keyOf('operator'), createdAt: at(3 * HOUR) })); // registers nothing
      // A lost insert (the key is taken) registers nothing either.
      await index.insert({
        ...inStore('first', TENANT, PROJECT_1, T0),
        store: { storeId: STORE_2, projectId: PROJECT_2 },
      });

      expect(await db.registry()).toEqual(
        [
          { tenantId: TENANT, storeId: STORE_1, projectId: PROJECT_1, firstWrittenAt: T0, lastWrittenAt: at(HOUR) },
          {
            tenantId: OTHER_TENANT,
            storeId: STORE_1,
            projectId: PROJECT_2,
            firstWrittenAt: at(2 * HOUR),
            lastWrittenAt: at(2 * HOUR),
          },
        ].sort((a, b) => (a.tenantId < b.tenantId ? -1 : 1)),
      );
      expect((await index.find(keyOf('first')))?.storeId).toBe(STORE_1);
    });

    it('replace moves the entry between accounts: to another project’s (registered), back to the operator’s', async () => {
      const entry = newEntry({ store: { storeId: STORE_1, projectId: PROJECT_1 } });
      await index.insert(entry);

      await index.replace({ ...entry, createdAt: at(HOUR), store: { storeId: STORE_2, projectId: PROJECT_2 } });
      expect((await index.find(entry.cacheKey))?.storeId).toBe(STORE_2);
      expect(await db.note(entry.cacheKey)).toEqual({ storeId: STORE_2, projectId: PROJECT_2 });
      expect((await db.registry()).map((r) => [r.storeId, r.projectId, r.lastWrittenAt])).toEqual([
        [STORE_1, PROJECT_1, T0],
        [STORE_2, PROJECT_2, at(HOUR)],
      ]);

      const { store: _moved, ...operator } = entry;
      await index.replace({ ...operator, createdAt: at(2 * HOUR) });
      expect((await index.find(entry.cacheKey))?.storeId).toBeNull();
      expect(await db.note(entry.cacheKey)).toEqual({ storeId: null, projectId: null });
      // The registry keeps both accounts (the cleanup forgets one once nothing of ours is left there).
      expect(await db.registry()).toHaveLength(2);
    });

    it('replace never moves or registers another writer’s row', async () => {
      await db.putForeignRow({ tenantId: TENANT, cacheKey: keyOf('narration'), createdAt: T0, expiresAt: null });
      await index.replace(
        newEntry({ cacheKey: keyOf('narration'), store: { storeId: STORE_1, projectId: PROJECT_1 } }),
      );
      expect(await db.note(keyOf('narration'))).toBeNull();
      expect(await db.registry()).toEqual([]);
    });
  });
}

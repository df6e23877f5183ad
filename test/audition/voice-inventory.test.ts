import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureVoiceList } from '../../src/adapters/azure-voice-list.ts';
import { VoiceInventory } from '../../src/audition/voice-inventory.ts';
import { SHIPPED_VOICES, type InventoryVoice } from '../../src/domain/voice-inventory.ts';
import type { VoiceList } from '../../src/ports/voice-list.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { at, DAY, HOUR, MINUTE } from '../support/time.ts';
import { MemoryVoiceList } from '../twins/memory-voice-list.ts';

const KEY = 'project-speech-key-5c1e';
const EASTUS = { key: KEY, region: 'eastus' };
const WESTEUROPE = { key: KEY, region: 'westeurope' };

const voice = (name: string, locale: string): InventoryVoice => ({ name, locale });
/** What a region's voices/list might hold: Spanish with a voice the shipped list lacks, no French, a language not served. */
const FETCHED = [
  voice('es-PE-CamilaNeural', 'es-PE'),
  voice('es-PE-AlexNeural', 'es-PE'),
  voice('es-PE-NuevaNeural', 'es-PE'),
  voice('es-MX-DaliaNeural', 'es-MX'),
  voice('wuu-CN-XiaotongNeural', 'wuu-CN'),
  voice('wuu-CN-YunzheNeural', 'wuu-CN'),
];
const names = (voices: InventoryVoice[]) => voices.map((v) => v.name);
const shippedOthers = (name: string, locale: string) =>
  names(new VoiceInventory().otherVoices(name, locale)).filter((n) => n !== name);

function harness(options: { list?: VoiceList; retryMs?: number } = {}) {
  let elapsed = 0;
  const voiceList = new MemoryVoiceList({ voices: FETCHED });
  const warnings: string[] = [];
  const inventory = new VoiceInventory({
    list: options.list ?? voiceList,
    now: () => at(elapsed),
    retryMs: options.retryMs,
    log: { warn: (msg) => warnings.push(msg) },
  });
  /** Lets a background ask (on the twin, no timers) finish. */
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const advance = (ms: number) => (elapsed += ms);
  return { inventory, voiceList, warnings, settle, advance };
}

describe('VoiceInventory', () => {
  it('answers from the shipped voices, without asking anything, when given no credentials or no list', async () => {
    const { inventory, voiceList, settle } = harness();
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE'))).toEqual(
      shippedOthers('es-PE-CamilaNeural', 'es-PE'),
    );
    await settle();
    expect(voiceList.requests).toEqual([]);
    const listless = new VoiceInventory().otherVoices('es-PE-NuevaNeural', 'es-PE', EASTUS);
    expect(listless).toHaveLength(SHIPPED_VOICES.filter((v) => v.locale.startsWith('es-')).length);
  });

  it('answers at once from the shipped voices while the region is asked once in the background, then from its list', async () => {
    const { inventory, voiceList, settle } = harness();
    voiceList.hold();
    const first = inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS);
    for (let i = 0; i < 5; i++) inventory.otherVoices('es-MX-DaliaNeural', 'es-MX', EASTUS);
    expect(names(first)).toEqual(shippedOthers('es-PE-CamilaNeural', 'es-PE'));
    await settle();
    expect(voiceList.requests).toEqual([EASTUS]); // one ask, however many calls meanwhile
    voiceList.release();
    await settle();
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS))).toEqual([
      'es-PE-AlexNeural',
      'es-PE-NuevaNeural',
      'es-MX-DaliaNeural',
    ]);
  });

  it('keeps the shipped voices of a language the fetched list lacks, and serves no language without a line', async () => {
    const { inventory, settle } = harness();
    await inventory.refresh(EASTUS);
    await settle();
    expect(names(inventory.otherVoices('fr-FR-DeniseNeural', 'fr-FR', EASTUS))).toEqual(
      shippedOthers('fr-FR-DeniseNeural', 'fr-FR'),
    );
    expect(inventory.otherVoices('wuu-CN-XiaotongNeural', 'wuu-CN', EASTUS)).toEqual([]);
  });

  it('asks a region again only once its list is refreshMs old (24 h by default)', async () => {
    const { inventory, voiceList, settle, advance } = harness();
    inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS);
    await settle();
    advance(DAY - 1);
    inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS);
    await settle();
    expect(voiceList.requests).toHaveLength(1);
    advance(1);
    voiceList.answer([voice('es-PE-CamilaNeural', 'es-PE'), voice('es-PE-OtraNeural', 'es-PE')]);
    inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS);
    await settle();
    expect(voiceList.requests).toHaveLength(2);
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS))).toEqual(['es-PE-OtraNeural']);
  });

  it('keeps one list per region, each asked with its own credentials', async () => {
    const { inventory, voiceList, settle } = harness();
    await inventory.refresh(EASTUS);
    voiceList.answer([voice('es-PE-CamilaNeural', 'es-PE'), voice('es-ES-ElviraNeural', 'es-ES')]);
    inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', WESTEUROPE);
    await settle();
    expect(voiceList.requests).toEqual([EASTUS, WESTEUROPE]);
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', WESTEUROPE))).toEqual(['es-ES-ElviraNeural']);
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS))).toContain('es-PE-NuevaNeural');
  });

  it('falls back to the shipped voices when the ask fails, warns once, and asks again after retryMs (1 h by default)', async () => {
    const { inventory, voiceList, warnings, settle, advance } = harness();
    voiceList.answer({ status: 503 });
    inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS);
    await settle();
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS))).toEqual(
      shippedOthers('es-PE-CamilaNeural', 'es-PE'),
    );
    advance(HOUR - MINUTE);
    inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS);
    await settle();
    expect(voiceList.requests).toHaveLength(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/eastus.*503.*shipped voices/);

    advance(MINUTE);
    voiceList.answer(FETCHED);
    inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS);
    await settle();
    expect(voiceList.requests).toHaveLength(2);
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS))).toContain('es-PE-NuevaNeural');
  });

  it('keeps the last list fetched when a later ask fails', async () => {
    const { inventory, voiceList, warnings, advance } = harness();
    await inventory.refresh(EASTUS);
    advance(DAY);
    voiceList.answer({ status: 500 });
    await inventory.refresh(EASTUS);
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS))).toContain('es-PE-NuevaNeural');
    expect(warnings[0]).toContain('last list fetched');
  });

  it('never logs the key, even when a list puts it in its error', async () => {
    const leaky: VoiceList = { list: (c) => Promise.reject(new Error(`refused key ${c.key} for ${c.region}`)) };
    const { inventory, warnings } = harness({ list: leaky });
    await inventory.refresh(EASTUS);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toContain(KEY);
    expect(warnings[0]).toContain('eastus');
  });
});

describe('VoiceInventory over AzureVoiceList and the speech stand-in', () => {
  let standIn: SpeechStandIn;
  beforeAll(async () => {
    standIn = await startSpeechStandIn(Buffer.alloc(0));
  });
  afterAll(() => standIn.stop());

  const inventoryOver = (warnings: string[]) =>
    new VoiceInventory({
      list: new AzureVoiceList({ host: standIn.host, timeoutMs: 250 }),
      now: () => at(0),
      log: { warn: (msg) => warnings.push(msg) },
    });

  it('gives up on a list endpoint that hangs at its deadline, answering the shipped voices', async () => {
    standIn.voiceList('hang');
    const warnings: string[] = [];
    const inventory = inventoryOver(warnings);
    const started = performance.now();
    await inventory.refresh(EASTUS);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(warnings).toEqual([expect.stringContaining('no answer within 250 ms')]);
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS))).toEqual(
      shippedOthers('es-PE-CamilaNeural', 'es-PE'),
    );
  });

  it('refreshes from the endpoint with the project’s key, and warns without it on a refused key', async () => {
    const warnings: string[] = [];
    standIn.voiceList([voice('es-PE-CamilaNeural', 'es-PE'), voice('es-PE-OtraNeural', 'es-PE')]);
    const inventory = inventoryOver(warnings);
    await inventory.refresh(EASTUS);
    expect(standIn.voiceListRequests.at(-1)).toEqual({ key: KEY });
    expect(names(inventory.otherVoices('es-PE-CamilaNeural', 'es-PE', EASTUS))).toEqual(['es-PE-OtraNeural']);

    standIn.voiceList({ status: 401 });
    await inventory.refresh(WESTEUROPE);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('401');
    expect(warnings[0]).not.toContain(KEY);
  });
});

import { describe, expect, it } from 'vitest';
import { projectSpeechKey } from '../../../src/adapters/postgres/prisma-account-directory.ts';

describe('projectSpeechKey: where a project keeps its Azure Speech key', () => {
  it('reads settings.creds.tts.azure (the web UI’s project settings page) first, with its own region', () => {
    expect(
      projectSpeechKey({
        creds: { tts: { azure: { key: ' k1 ', region: 'brazilsouth' } } },
        azure_tts_key: 'k2',
        azure_tts_region: 'eastus',
      }),
    ).toEqual({
      ttsKey: 'k1',
      ttsRegion: 'brazilsouth',
    });
  });

  it('keeps a key and its region together: no region beside the UI key means no region (the service default then)', () => {
    expect(projectSpeechKey({ creds: { tts: { azure: { key: 'k1' } } }, azure_tts_region: 'eastus' })).toEqual({
      ttsKey: 'k1',
      ttsRegion: undefined,
    });
  });

  it('falls back to the guide’s flat settings.azure_tts_key / azure_tts_region', () => {
    expect(projectSpeechKey({ azure_tts_key: 'k2', azure_tts_region: 'eastus' })).toEqual({
      ttsKey: 'k2',
      ttsRegion: 'eastus',
    });
    expect(projectSpeechKey({ creds: { tts: { azure: { key: '   ' } } }, azure_tts_key: 'k2' })).toEqual({
      ttsKey: 'k2',
      ttsRegion: undefined,
    });
  });

  it.each([
    null,
    undefined,
    'text',
    42,
    [],
    { creds: 'x' },
    { creds: { tts: [] } },
    { creds: { tts: { azure: { key: 7 } } } },
    { azure_tts_key: {} },
  ])('finds no key in %j (settings of any shape never throw)', (settings) => {
    expect(projectSpeechKey(settings)).toEqual({});
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureVoiceList } from '../../src/adapters/azure-voice-list.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { describeVoiceListContract } from '../ports/voice-list.contract.ts';

describe('AzureVoiceList (real HTTP against the speech stand-in)', () => {
  let standIn: SpeechStandIn;
  beforeAll(async () => {
    standIn = await startSpeechStandIn(Buffer.alloc(0));
  });
  afterAll(() => standIn.stop());

  describeVoiceListContract('AzureVoiceList', async () => {
    const since = standIn.voiceListRequests.length;
    const timeoutMs = 300;
    return {
      voiceList: new AzureVoiceList({ host: standIn.host, timeoutMs }),
      credentials: { key: 'project-key-7f3a', region: 'eastus' },
      answer: (next) => standIn.voiceList(next),
      keys: () => standIn.voiceListRequests.slice(since).map((r) => r.key),
      timeoutMs,
    };
  });

  it('asks the host in place of the region when one is configured (ws:// read as http://)', async () => {
    standIn.voiceList([{ name: 'es-PE-CamilaNeural', locale: 'es-PE' }]);
    const before = standIn.voiceListRequests.length;
    const voices = await new AzureVoiceList({ host: standIn.host, timeoutMs: 2_000 }).list({
      key: 'k',
      region: 'no-such-region',
    });
    expect(voices).toEqual([{ name: 'es-PE-CamilaNeural', locale: 'es-PE' }]);
    expect(standIn.voiceListRequests.slice(before)).toEqual([{ key: 'k' }]);
  });
});

describe('AzureVoiceList reading what Azure answers', () => {
  let server: http.Server;
  let host: string;
  let answer: unknown;
  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end(JSON.stringify(answer)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const list = () => new AzureVoiceList({ host, timeoutMs: 2_000 }).list({ key: 'k' });

  it('keeps only standard neural voices with a name the audition path accepts, each under its name’s locale', async () => {
    answer = [
      { ShortName: 'es-PE-CamilaNeural', Locale: 'es-PE', VoiceType: 'Neural', Gender: 'Female' },
      { ShortName: 'en-US-Ava:DragonHDLatestNeural', Locale: 'en-US', VoiceType: 'Neural' },
      { ShortName: 'en-US-JessaRUS', Locale: 'en-US', VoiceType: 'Standard' },
      { ShortName: 'zh-CN-henan-YundengNeural', Locale: 'zh-CN-henan', VoiceType: 'Neural' },
      { ShortName: 'not a voice', Locale: 'xx', VoiceType: 'Neural' },
      { Locale: 'es-PE', VoiceType: 'Neural' },
      null,
    ];
    expect(await list()).toEqual([
      { name: 'es-PE-CamilaNeural', locale: 'es-PE' },
      { name: 'zh-CN-henan-YundengNeural', locale: 'zh-CN' },
    ]);
  });

  it('throws on an answer that is not a list', async () => {
    answer = { voices: [] };
    await expect(list()).rejects.toThrow(/not a list/);
  });

  it('refuses to guess an endpoint without a region or a host, asking nothing', async () => {
    await expect(new AzureVoiceList({ timeoutMs: 1_000 }).list({ key: 'k' })).rejects.toThrow(/region/);
  });
});

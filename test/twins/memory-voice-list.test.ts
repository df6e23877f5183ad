import { describe, expect, it } from 'vitest';
import { describeVoiceListContract } from '../ports/voice-list.contract.ts';
import { MemoryVoiceList } from './memory-voice-list.ts';

describeVoiceListContract('MemoryVoiceList', async () => {
  const voiceList = new MemoryVoiceList({ timeoutMs: 300 });
  return {
    voiceList,
    credentials: { key: 'twin-key', region: 'eastus' },
    answer: (next) => voiceList.answer(next),
    keys: () => voiceList.requests.map((r) => r.key),
    timeoutMs: voiceList.timeoutMs,
  };
});

describe('MemoryVoiceList test controls', () => {
  it('holds every request until released, recording each one’s credentials', async () => {
    const voiceList = new MemoryVoiceList({ voices: [{ name: 'es-PE-AlexNeural', locale: 'es-PE' }] });
    voiceList.hold();
    let answered = 0;
    const pending = [1, 2].map(() => voiceList.list({ key: 'k', region: 'westeurope' }).then(() => answered++));
    await Promise.resolve();
    expect({ waiting: voiceList.waiting, answered }).toEqual({ waiting: 2, answered: 0 });
    voiceList.release();
    await Promise.all(pending);
    expect(answered).toBe(2);
    expect(voiceList.requests).toEqual([
      { key: 'k', region: 'westeurope' },
      { key: 'k', region: 'westeurope' },
    ]);
  });
});

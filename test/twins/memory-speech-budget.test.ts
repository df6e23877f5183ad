import { describe, expect, it } from 'vitest';
import { describeSpeechBudgetContract } from '../ports/speech-budget.contract.ts';
import { MemorySpeechBudget } from './memory-speech-budget.ts';

describeSpeechBudgetContract('MemorySpeechBudget', async () => {
  const budget = new MemorySpeechBudget();
  const unreachable = new MemorySpeechBudget();
  unreachable.failing = new Error('database unreachable');
  return { first: budget, second: budget, unreachable };
});

describe('MemorySpeechBudget faults', () => {
  it('throws the set error while failing, then counts again', async () => {
    const budget = new MemorySpeechBudget();
    const outage = new Error('database unreachable');
    budget.failing = outage;
    await expect(budget.reserve('t', '2026-12-02', 1, 10)).rejects.toBe(outage);
    await expect(budget.used('t', '2026-12-02')).rejects.toBe(outage);
    budget.failing = undefined;
    expect(await budget.reserve('t', '2026-12-02', 1, 10)).toBe(true);
  });
});

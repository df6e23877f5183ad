import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPgClient } from '../../tools/local-services/postgres-server.ts';
import { createTestAccount } from '../support/accounts.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

const README = path.resolve(__dirname, '../../README.md');

/** The SQL block of the README's Monitoring section, one statement per entry. */
async function monitoringStatements(): Promise<string[]> {
  const readme = await readFile(README, 'utf8');
  const section = readme.slice(readme.indexOf('**SQL** (the guide'));
  const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split(/;\s*\n/)
    .map((statement) => statement.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}

describe('the README’s monitoring SQL (the guide’s Step 8 queries and ours)', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await createTestServices();
    const account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    await services.prisma.audioCache.create({
      data: {
        tenantId: account.tenantId, cacheKey: 'a'.repeat(64), text: 'Hola', voiceId: 'es-AR-ElenaNeural', audioBlobPath: 'audio-cache/x.mp3',
        audioFileSizeBytes: 51_200n, hitCount: 3, lastAccessedAt: new Date(Date.now() - 8 * 86_400_000), expiresAt: new Date(Date.now() + 86_400_000),
      },
    });
    await services.prisma.audioCacheUsage.create({ data: { tenantId: account.tenantId, hour: new Date(), hits: 3, misses: 1 } });
  });
  afterAll(() => services.dispose());

  it('has the guide’s three queries, our hit-ratio query and the guide’s manual cleanup', async () => {
    const statements = await monitoringStatements();
    expect(statements).toHaveLength(5);
    expect(statements.filter((s) => /FROM audio_cache\b/.test(s))).toHaveLength(4);
  });

  it('runs every statement against this schema, with the results the guide expects', async () => {
    const statements = await monitoringStatements();
    const results = await withPgClient(services.database.url, async (client) => {
      const rows: Record<string, unknown>[][] = [];
      let deleted: number | null = null;
      await client.query('BEGIN');
      try {
        for (const statement of statements) {
          const result = await client.query(statement);
          rows.push(result.rows);
          deleted = result.rowCount;
        }
        return { rows, deleted };
      } finally {
        await client.query('ROLLBACK');
      }
    });
    const { rows, deleted } = results;
    expect(rows[0]).toEqual([expect.objectContaining({ total_entries: '1', total_hits: '3' })]);
    expect(rows[1]).toEqual([expect.objectContaining({ entries: '1', hits: '3' })]);
    expect(rows[2]).toEqual([expect.objectContaining({ voice_id: 'es-AR-ElenaNeural', text: 'Hola', hit_count: 3, size_kb: '50' })]);
    expect(rows[3]).toEqual([expect.objectContaining({ hits: '3', syntheses: '1', hit_ratio: '0.750' })]);
    expect(deleted).toBe(1); // the entry last played 8 days ago (rolled back)
  });
});

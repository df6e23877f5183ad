import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predictivePrewarmOptedOut, projectSpeechKey } from '../../src/adapters/postgres/prisma-account-directory.ts';
import { projectStorageOf } from '../../src/domain/project-storage.ts';
import { withPgClient } from '../../tools/local-services/postgres-server.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { docContaining } from '../support/docs.ts';
import { seedEntry } from '../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../support/khipu-database.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

/** The first SQL block after `marker` in the one document (README.md, docs/*.md) that has it, one statement per entry. */
function sqlStatementsAfter(marker: string): string[] {
  const { text } = docContaining(marker);
  const section = text.slice(text.indexOf(marker));
  const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split(/;\s*\n/)
    .map((statement) => statement.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}
const monitoringStatements = () => sqlStatementsAfter('**SQL** (the guide');

describe.each(DATABASE_SHAPES)('the documentation’s SQL, database shape: %s', (shape) => {
  let services: TestServices;
  let account: TestAccount;
  beforeAll(async () => {
    services = await createTestServices({}, shape);
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const eightDaysAgo = new Date(Date.now() - 8 * 86_400_000);
    await seedEntry(services, account.tenantId, {
      text: 'Hola',
      size: 51_200,
      hits: 3,
      lastAccessedAt: eightDaysAgo,
      expiresAt: new Date(Date.now() + 86_400_000),
      blob: false,
    });
    // A book's narration, stored by the Khipu Cloud API in the same table, as old.
    await seedEntry(services, account.tenantId, {
      writer: 'khipu-api',
      text: 'Capítulo uno',
      size: 1024,
      hits: 0,
      lastAccessedAt: eightDaysAgo,
      blob: false,
    });
    await services.prisma.audioCacheUsage.create({
      data: {
        tenantId: account.tenantId,
        hour: new Date(),
        hits: 3,
        misses: 1,
        predictiveSyntheses: 2,
        predictiveCharacters: 40n,
        predictiveHits: 1,
      },
    });
  });
  afterAll(() => services.dispose());

  it('runs every monitoring statement, with the results the guide expects; the manual cleanup deletes only ours', async () => {
    // The guide's three queries, our hit ratio and the guide's manual cleanup: each one's result is checked below.
    const statements = monitoringStatements();
    expect(statements).toHaveLength(5);
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
    // The guide's statistics count every row of the table (ours and the API's).
    expect(rows[0]).toEqual([expect.objectContaining({ total_entries: '2', total_hits: '3' })]);
    expect(rows[1]).toEqual([expect.objectContaining({ entries: '2', hits: '3' })]);
    expect(rows[2]![0]).toEqual(
      expect.objectContaining({ voice_id: 'es-AR-ElenaNeural', text: 'Hola', hit_count: 3, size_kb: '50' }),
    );
    expect(rows[3]).toEqual([expect.objectContaining({ hits: '3', syntheses: '1', hit_ratio: '0.750' })]);
    expect(deleted).toBe(1); // ours, last played 8 days ago, not the narration (rolled back)
  });

  it('lists predictive prewarm’s figures per tenant over the last 7 days', async () => {
    const [statement, ...rest] = sqlStatementsAfter("Predictive prewarm's figures per tenant");
    expect(rest).toEqual([]);
    const { rows } = await withPgClient(services.database.url, (client) => client.query(statement!));
    expect(rows).toEqual([{ tenant_id: account.tenantId, syntheses: '2', characters: '40', hits: '1' }]);
  });

  /**
   * Runs the one statement after `marker` on the project's settings, set to `before` first, and answers the settings
   * it leaves. The documentation writes it for Khipu's json column; on jsonb the cast back to json is left out.
   */
  async function settingsAfterStatement(marker: string, before: unknown): Promise<unknown> {
    const [statement, ...rest] = sqlStatementsAfter(marker);
    expect(rest).toEqual([]);
    await services.prisma.$executeRaw`UPDATE projects SET settings = ${JSON.stringify(before)}
      WHERE id = ${account.projectId}::uuid`;
    const sql = shape === 'khipu' ? statement! : statement!.replace(/\)::json\n/, ')\n');
    await withPgClient(services.database.url, (client) =>
      client.query(sql.replace('YOUR_PROJECT_ID', account.projectId)),
    );
    const [project] = await services.prisma.$queryRaw<
      { settings: unknown }[]
    >`SELECT settings FROM projects WHERE id = ${account.projectId}::uuid`;
    return project!.settings;
  }

  it('gives a project its key where the web UI keeps it, on a json or jsonb settings column, keeping its other settings', async () => {
    const settings = await settingsAfterStatement('There, give a project its key', {
      creds: { storage: { azure: { account: 'keep' } } },
      theme: 'dark',
    });
    expect(projectSpeechKey(settings)).toEqual({ ttsKey: 'YOUR_AZURE_KEY', ttsRegion: 'eastus' });
    expect(settings).toMatchObject({ theme: 'dark', creds: { storage: { azure: { account: 'keep' } } } });
  });

  it('opts a project out of predictive prewarm, on a json or jsonb settings column, keeping its other settings', async () => {
    const before = { creds: { tts: { azure: { key: 'k', region: 'eastus' } } }, audition_cache: { other: 1 } };
    const settings = await settingsAfterStatement('`settings.audition_cache.predictive_prewarm = false` (a', before);
    expect(predictivePrewarmOptedOut(settings)).toBe(true);
    expect(settings).toMatchObject({ ...before, audition_cache: { other: 1, predictive_prewarm: false } });
  });

  it('gives a project its own storage account where the web UI keeps it, keeping its key and other settings', async () => {
    const before = { creds: { tts: { azure: { key: 'k', region: 'eastus' } } }, theme: 'dark' };
    const settings = await settingsAfterStatement('Giving a project its own storage by hand', before);
    expect(projectStorageOf(settings)).toMatchObject({
      accountName: 'youraccount',
      accessKey: 'YOUR_ACCOUNT_KEY',
      containerName: 'audios',
      storeId: 'https://youraccount.blob.core.windows.net/audios',
    });
    expect(settings).toMatchObject(before);
  });
});

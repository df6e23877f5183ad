import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

// Property-based: whatever a caller sends, the answer is 2xx or 4xx (problem+json for errors),
// never a 5xx or a crash, and no input ever reaches the speech service as markup.

const MARKUP = [
  '<',
  '>',
  '&',
  '"',
  "'",
  '</voice>',
  '<voice name="x">',
  '<![CDATA[',
  ']]>',
  '<?xml?>',
  '&amp;',
  '<!--',
  '\u0000',
  '\ud800',
  '\udfff',
];
/** What the text rules refuse: controls (C0, DEL, C1 such as NEL), lone surrogates, noncharacters. */
const UNSPEAKABLE = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u;
const CONTROLS = ['\u007f', '\u0085', '\u0080', '\u009f', '\u001b', '\ufdd0', '\ufffe', '\u{10ffff}'];
const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(...MARKUP, ...CONTROLS, 'NaN', 'Infinity', '-Infinity', '1e309', '__proto__', 'constructor', ''),
  fc
    .array(fc.constantFrom(...MARKUP, ...CONTROLS, 'Hola ', 'es-AR-ElenaNeural', ' '), { maxLength: 8 })
    .map((parts) => parts.join('')),
  fc.string({ minLength: 5_001, maxLength: 6_000 }),
);
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.double(),
    fc.integer(),
    fc.constantFrom(null, true, false, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 0.001, -0),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 3 }),
  ),
})).value;

const VOICES = ['es-AR-ElenaNeural', 'zh-CN-henan-YundengNeural', 'en-US-Andrew:DragonHDLatestNeural'];
const body = fc.record(
  {
    voice: fc.oneof(
      fc.constantFrom(...VOICES),
      hostileValue,
      fc.record({ id: fc.oneof(fc.constantFrom(...VOICES), hostileValue) }),
    ),
    text: fc.oneof(hostileString, hostileValue),
    style: fc.oneof(fc.constantFrom('cheerful', 'none', '', null), hostileValue),
    styledegree: fc.oneof(fc.double({ min: 0.01, max: 2, noNaN: true }), hostileValue),
    rate_pct: fc.oneof(fc.integer({ min: -100, max: 200 }), hostileValue),
    pitch_pct: fc.oneof(fc.integer({ min: -50, max: 50 }), hostileValue),
    page: hostileValue,
    ['__proto__']: hostileValue,
    constructor: hostileValue,
  },
  { requiredKeys: [] },
);
// Valid requests whose every string is markup-laden: these do reach the speech service.
const speakable = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '<',
        '>',
        '&',
        '"',
        "'",
        '</voice>',
        '<voice name="x">',
        '<![CDATA[',
        ']]>',
        '<?xml?>',
        '&amp;',
        '<!--',
        '</speak><speak>',
        'Hola ',
        'ñandú ',
      ),
      fc.string({ minLength: 1, maxLength: 8 }),
    ),
    { minLength: 1, maxLength: 10 },
  )
  .map((parts) => parts.join(''))
  .filter((text) => text.trim().length > 0 && !UNSPEAKABLE.test(text.replace(/\s/g, ' ')));
const validHostileBody = fc.record({
  voice: fc.oneof(
    fc.constantFrom(...VOICES),
    fc.constantFrom(...VOICES).map((id) => ({ id, styles: ['<x>'], description: '</voice>' })),
  ),
  text: speakable,
  style: fc.constantFrom(undefined, null, '', 'cheerful', 'narration-professional'),
  styledegree: fc.option(fc.double({ min: 0.01, max: 2, noNaN: true }), { nil: undefined }),
  rate_pct: fc.option(fc.integer({ min: -100, max: 200 }), { nil: undefined }),
  pitch_pct: fc.option(fc.integer({ min: -50, max: 50 }), { nil: undefined }),
  page: fc.option(hostileString, { nil: undefined }),
});
const rawBody = fc.oneof(
  { weight: 4, arbitrary: validHostileBody.map((b) => JSON.stringify(b)) },
  // Valid but for one control character, lone surrogate or noncharacter in the text: refused, never spoken.
  {
    weight: 1,
    arbitrary: fc
      .tuple(validHostileBody, fc.constantFrom(...CONTROLS))
      .map(([b, c]) => JSON.stringify({ ...b, text: `${b.text}${c}x` })),
  },
  { weight: 6, arbitrary: body.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: hostileValue.map((v) => JSON.stringify(v) ?? 'undefined') },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) }, // invalid UTF-8 and binary
);

describe('the audition function under hostile input', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let token: string;
  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host, TTS_TIMEOUT_SECONDS: '5' });
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    token = await account.token();
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
  });

  it('answers 1,000+ generated bodies, headers and paths with 2xx or 4xx only, and only escaped SSML', async () => {
    const handler = createAuditionHandler(() => services);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        rawBody,
        fc.oneof(
          { weight: 8, arbitrary: fc.constant('application/json') },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              'application/json; charset=utf-8',
              'text/plain',
              '',
              'application/x-www-form-urlencoded',
              'application/ld+json',
            ),
          },
          { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
        ),
        fc.oneof(
          { weight: 8, arbitrary: fc.constant(`Bearer ${token}`) },
          { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
          { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`) },
        ),
        fc.oneof(
          { weight: 8, arbitrary: fc.constant(account.projectId) },
          { weight: 1, arbitrary: fc.uuid() },
          { weight: 1, arbitrary: hostileString },
        ),
        async (payload, contentType, authorization, projectId) => {
          // A lone surrogate has no URL form (no request can carry it): not a case.
          fc.pre(!/[\ud800-\udfff]/.test(projectId.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')));
          const headers: Record<string, string> = {};
          // Headers that cannot be sent on the wire (control characters) are not a case.
          if (/^[\t\x20-\x7e]*$/.test(contentType)) headers['content-type'] = contentType;
          if (/^[\t\x20-\x7e]*$/.test(authorization)) headers.authorization = authorization;
          const { response } = await invokeHttp(handler, {
            url: `http://localhost:7071/api/v1/projects/${encodeURIComponent(projectId)}/characters/audition`,
            headers,
            body: typeof payload === 'string' ? payload : payload,
            params: { projectId },
          });
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          expect(response.status).toBeGreaterThanOrEqual(200);
          expect(response.status).toBeLessThan(500);
          if (response.status >= 400) {
            expect(response.headers.get('content-type')).toBe('application/problem+json');
            const problem = (await response.json()) as { status: number; title: string };
            expect(problem.status).toBe(response.status);
          } else {
            expect(response.headers.get('content-type')).toBe('audio/mpeg');
          }
        },
      ),
      { numRuns: 1_000 },
    );

    // Every SSML the speech service saw: only our own elements, one voice, no smuggled markup.
    expect(standIn.received.length).toBeGreaterThan(100); // valid bodies did get through
    for (const { ssml } of standIn.received) {
      const tags = [...ssml.matchAll(/<\/?([A-Za-z:_-]+)/g)].map((m) => m[1]);
      expect(new Set(tags)).toSatisfy((set: Set<string>) =>
        [...set].every((t) => ['speak', 'voice', 'mstts:express-as', 'prosody'].includes(t)),
      );
      expect(ssml.match(/<voice /g)).toHaveLength(1);
      expect(ssml).not.toMatch(/<!\[CDATA\[|<!--|<\?xml/);
      expect(ssml).not.toMatch(UNSPEAKABLE); // no control character, lone surrogate or noncharacter reached it
    }
    console.log('status histogram', Object.fromEntries([...statuses].sort()));
  }, 180_000);
});

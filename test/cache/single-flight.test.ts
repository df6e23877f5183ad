import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../src/cache/single-flight.ts';

/** A result the test settles when it chooses. */
function pending<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Lets every callback waiting on a settled promise run. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

/** Whether `promise` has settled by now. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await settled();
  return done;
}

describe('SingleFlight', () => {
  it('lets the first caller begin a flight that identical callers find, sharing what it lands with', async () => {
    const flights = new SingleFlight<string>();
    expect(flights.find('k')).toBeUndefined();
    const flight = flights.begin('k');
    const result = pending<string>();
    flight.land(result.promise);

    expect(flights.find('k')).toBe(flight);
    await settled();
    expect(flights.find('k')).toBe(flight); // still under way: what it landed with has not settled

    result.resolve('audio');
    await expect(flights.find('k')!.landed).resolves.toBe('audio');
    await settled();
    expect(flights.find('k')).toBeUndefined();
  });

  it('ends a flight whose work fails: its finders see the failure, and the next caller begins anew', async () => {
    const flights = new SingleFlight<string>();
    const flight = flights.begin('k');
    const result = pending<string>();
    flight.land(result.promise);
    const finder = flights.find('k')!;

    result.reject(new Error('synthesis failed'));
    await expect(finder.landed).rejects.toThrow('synthesis failed');
    await settled();
    expect(flights.find('k')).toBeUndefined();
    const next = flights.begin('k');
    expect(next).not.toBe(flight);
    expect(flights.find('k')).toBe(next);
  });

  it('makes a published value visible to finders before the flight lands', async () => {
    const flights = new SingleFlight<string>();
    const flight = flights.begin('k');
    const result = pending<string>();
    flight.land(result.promise);
    expect(flights.find('k')!.published).toBeUndefined();

    flight.publish('early');
    expect(flights.find('k')!.published).toBe('early');
    expect(await hasSettled(flight.landed)).toBe(false);

    result.resolve('final');
    await expect(flight.landed).resolves.toBe('final');
  });

  it('begins a new flight for a key after the last one landed, which knows nothing of the old one', async () => {
    const flights = new SingleFlight<string>();
    const first = flights.begin('k');
    first.publish('old');
    first.land(Promise.resolve('old'));
    await settled();

    const second = flights.begin('k');
    expect(second).not.toBe(first);
    expect(second.published).toBeUndefined();
    expect(flights.find('k')).toBe(second);
  });

  it('does not end a newer flight of the key when an older one lands after it', async () => {
    const flights = new SingleFlight<string>();
    const older = flights.begin('k');
    const newer = flights.begin('k');
    older.land(Promise.resolve('older'));
    await settled();
    expect(flights.find('k')).toBe(newer);
  });

  it('keeps flights of different keys apart', async () => {
    const flights = new SingleFlight<string>();
    const a = flights.begin('a');
    expect(flights.find('b')).toBeUndefined();
    const b = flights.begin('b');
    expect(b).not.toBe(a);

    a.publish('of a');
    expect(b.published).toBeUndefined();
    a.land(Promise.resolve('of a'));
    await settled();
    expect(flights.find('a')).toBeUndefined();
    expect(flights.find('b')).toBe(b);
  });

  it('drains once every flight under way has landed, one that failed included', async () => {
    const flights = new SingleFlight<string>();
    const [one, two] = [pending<string>(), pending<string>()];
    flights.begin('one').land(one.promise);
    flights.begin('two').land(two.promise);
    const drained = flights.drain();

    one.resolve('fine');
    expect(await hasSettled(drained)).toBe(false);
    two.reject(new Error('blob upload failed'));
    await expect(drained).resolves.toBeUndefined();
  });

  it('drains at once when nothing is under way, and does not wait for flights begun after it was asked', async () => {
    const flights = new SingleFlight<string>();
    await expect(flights.drain()).resolves.toBeUndefined();

    const early = pending<string>();
    flights.begin('early').land(early.promise);
    const drained = flights.drain();
    flights.begin('late').land(new Promise<string>(() => {})); // never lands
    early.resolve('done');
    expect(await hasSettled(drained)).toBe(true);
  });
});

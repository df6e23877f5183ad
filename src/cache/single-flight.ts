/**
 * One flight per key: the first caller for a key starts the work, identical callers find it
 * and share its result. Knows nothing of what flies; the work's owner says what it `publish`es
 * early (a result usable before the work has fully landed) and what it `land`s with.
 */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  /** The flight under way for `key`, if there is one. */
  find(key: string): Flight<T> | undefined {
    return this.#flights.get(key);
  }

  /** Starts the flight for `key`: found by `find` until what it `land`s with settles. */
  begin(key: string): Flight<T> {
    const flight = new Flight<T>();
    this.#flights.set(key, flight);
    const forget = () => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    void flight.landed.then(forget, forget);
    return flight;
  }

  /** Settles once every flight under way now has landed (or failed). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#flights.values()].map((flight) => flight.landed));
  }
}

/** One key's work under way, as the callers sharing it see it. */
export class Flight<T> {
  /** What the work published before landing, if it has. */
  published: T | undefined;
  /** The work's final result (or its failure). */
  readonly landed: Promise<T>;
  #land!: (result: Promise<T>) => void;

  constructor() {
    this.landed = new Promise<T>((resolve) => (this.#land = resolve));
  }

  /** Makes a result usable before the work has landed. */
  publish(value: T): void {
    this.published = value;
  }

  /** The work's final result: the flight ends when it settles. */
  land(result: Promise<T>): void {
    this.#land(result);
  }
}

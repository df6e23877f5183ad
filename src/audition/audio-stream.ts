/**
 * A miss's audio as a web stream, fed as the synthesizer produces it. If the caller goes
 * away, the synthesis still completes and is stored; only the pushing stops.
 */
export class AudioStream {
  readonly readable: ReadableStream<Uint8Array>;
  /** Resolves with the first chunk pushed. */
  readonly started: Promise<void>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #start!: () => void;
  #cancelled = false;

  constructor() {
    this.started = new Promise((resolve) => (this.#start = resolve));
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#cancelled = true;
      },
    });
  }

  push(chunk: Buffer): void {
    this.#start();
    if (!this.#cancelled) this.#controller.enqueue(chunk);
  }

  end(): void {
    if (!this.#cancelled) this.#controller.close();
  }

  fail(error: unknown): void {
    if (!this.#cancelled) this.#controller.error(error);
  }
}

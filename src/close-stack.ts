import type { Logger } from './observability/logger';

/**
 * What start-up opened, closed in the reverse order: the same list serves a start that fails halfway
 * (everything already open is closed, nothing keeps running) and shutdown. A close that fails is logged
 * and the rest still close.
 */
export class CloseStack {
  private readonly entries: { name: string; close: () => unknown }[] = [];

  constructor(private readonly logger: Logger) {}

  push(name: string, close: () => unknown): void {
    this.entries.push({ name, close });
  }

  async closeAll(): Promise<void> {
    while (this.entries.length > 0) {
      const { name, close } = this.entries.pop()!;
      try {
        await close();
      } catch (err) {
        this.logger.error({ err: (err as Error).message, closing: name }, 'close failed');
      }
    }
  }
}

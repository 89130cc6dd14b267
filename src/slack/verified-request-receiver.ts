import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTPModuleFunctions, HTTPResponseAck, type App, type BufferedIncomingMessage, type Receiver, type Logger as SlackLogger } from '@slack/bolt';
import type { VerifiedSlackRequest } from './signed-request-guard.ts';

/**
 * Bolt's receiver for Slack's requests over HTTP, behind the signed-request guard: the guard has
 * read the body, checked its signature, timestamp and replay, and parsed the payload, so this
 * only hands it to Bolt as Bolt's own HTTPReceiver would (the same ack, answered at once, with
 * Bolt's 3 s limit for a listener that never acks; Slack's URL verification answered), without
 * reading, verifying and parsing the body a second time. Latch's HTTP server serves the requests:
 * start and stop have nothing to do.
 */
export class VerifiedRequestReceiver implements Receiver {
  private app: App | null = null;

  constructor(
    private readonly logger: SlackLogger,
    /** Properties every listener gets in its context, from the request as Slack sent it. */
    private readonly customProperties: (req: BufferedIncomingMessage) => Record<string, unknown>,
  ) {}

  init(app: App): void {
    this.app = app;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Hands a verified request to Bolt; resolves once its listeners have finished. */
  readonly dispatch = async (req: IncomingMessage, res: ServerResponse, { rawBody, payload }: VerifiedSlackRequest): Promise<void> => {
    if (payload.type === 'url_verification') {
      HTTPModuleFunctions.buildUrlVerificationResponse(res, payload);
      return;
    }
    if (!this.app) {
      // Bolt's init comes before the server listens; a request before it is Slack's to retry.
      res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable\n');
      return;
    }
    const request = Object.assign(req, { rawBody });
    const ack = new HTTPResponseAck({ logger: this.logger, processBeforeResponse: false, httpRequest: request, httpRequestBody: payload, httpResponse: res });
    try {
      await this.app.processEvent({
        body: payload,
        ack: ack.bind(),
        retryNum: HTTPModuleFunctions.extractRetryNumFromHTTPRequest(req),
        retryReason: HTTPModuleFunctions.extractRetryReasonFromHTTPRequest(req),
        customProperties: this.customProperties(request),
      });
    } catch (error) {
      // As Bolt's HTTPReceiver: answered 500 unless a listener acked already, and logged.
      const answered = await HTTPModuleFunctions.defaultProcessEventErrorHandler({ error: error as Error, logger: this.logger, request: req, response: res, storedResponse: ack.storedResponse });
      if (answered) ack.ack();
    }
  };
}

import type { Logger } from '../../logging/logger.ts';
import type { ServiceContext } from '../../services/service-context.ts';
import type { HomePublisher } from '../home-publisher.ts';

/** What Slack listeners need: the use cases' context (whose events update Slack) and the App Home. */
export interface ListenerContext {
  services: ServiceContext;
  /** Rebuilds a person's App Home after they acted from it. */
  home: HomePublisher;
  logger: Logger;
  /** Slack requests whose listeners are running now, this one included (absent: counted as none). */
  slackWorkInFlight?: () => number;
}

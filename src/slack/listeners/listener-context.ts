import type { Logger } from '../../logging/logger.ts';
import type { ServiceContext } from '../../services/service-context.ts';
import type { HomePublisher } from '../home-publisher.ts';
import type { RequestMessenger } from '../request-messenger.ts';

/** What Slack listeners need: the use cases' context and the messenger that updates Slack. */
export interface ListenerContext {
  services: ServiceContext;
  messenger: RequestMessenger;
  /** Rebuilds a person's App Home after they acted from it. */
  home: HomePublisher;
  logger: Logger;
}

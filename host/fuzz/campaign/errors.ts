// Kept apart from the Redis and BullMQ modules so that the command line can
// recognise the error without loading them for every command.

/** A campaign cannot go on (unreachable Redis, bad credentials, unknown name...): one line, exit 1. */
export class CampaignError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CampaignError";
  }
}

/**
 * The JD (京东 JOS) registry entry: descriptor (plain data) + factory + lazily loaded sandbox
 * harness.
 */
import { type ConnectorDescriptor, defineConnector } from '../contract.js';
import { JD_LIMITS, jdConfigSchema } from './config.js';
import { createJdConnector } from './connector.js';
import { JD_RELAY_HEADERS as H } from './webhook.js';

export const jdDescriptor: ConnectorDescriptor<typeof jdConfigSchema> = {
  id: 'jd',
  displayName: 'JD (京东)',
  configSchema: jdConfigSchema,
  webhook: {
    signatureHeader: H.signature,
    timestampHeader: H.timestamp,
    signature:
      "stockd's JD message relay scheme (not a JD one): uppercase hex HMAC-SHA256(relaySecret, timestamp + '\\n' + raw body)",
    ack: { status: 200 },
    replyWithinMs: 5000,
  },
  limits: JD_LIMITS,
  capabilities: { compareAndSet: false, readStock: true, fullOrderWebhooks: false, incrementalStock: false },
};

export const jd = defineConnector({
  descriptor: jdDescriptor,
  create: createJdConnector,
  sandbox: async () => (await import('./sandbox-harness.js')).harness,
});

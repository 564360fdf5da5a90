/**
 * The Pinduoduo registry entry: descriptor (plain data) + factory + lazily loaded sandbox harness.
 */
import { type ConnectorDescriptor, defineConnector } from '../contract.js';
import { PINDUODUO_LIMITS, pinduoduoConfigSchema } from './config.js';
import { createPinduoduoConnector } from './connector.js';
import { PDD_RELAY_HEADERS as H } from './webhook.js';

export const pinduoduoDescriptor: ConnectorDescriptor<typeof pinduoduoConfigSchema> = {
  id: 'pinduoduo',
  displayName: 'Pinduoduo (拼多多)',
  configSchema: pinduoduoConfigSchema,
  webhook: {
    signatureHeader: H.signature,
    timestampHeader: H.timestamp,
    signature:
      "stockd's PMC relay scheme (not a PDD one): uppercase hex HMAC-SHA256(relaySecret, timestamp + '\\n' + raw body)",
    ack: { status: 200 },
    replyWithinMs: 5000,
  },
  limits: PINDUODUO_LIMITS,
  capabilities: { compareAndSet: false, readStock: true, fullOrderWebhooks: false, incrementalStock: false },
};

export const pinduoduo = defineConnector({
  descriptor: pinduoduoDescriptor,
  create: createPinduoduoConnector,
  sandbox: async () => (await import('./sandbox-harness.js')).harness,
});

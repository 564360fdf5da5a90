/**
 * The Taobao/Tmall (TOP) registry entry: descriptor (plain data) + factory + lazily loaded
 * sandbox harness.
 */
import { type ConnectorDescriptor, defineConnector } from '../contract.js';
import { TAOBAO_LIMITS, taobaoConfigSchema } from './config.js';
import { createTaobaoConnector } from './connector.js';
import { TAOBAO_RELAY_HEADERS as H } from './webhook.js';

export const taobaoDescriptor: ConnectorDescriptor<typeof taobaoConfigSchema> = {
  id: 'taobao',
  displayName: 'Taobao / Tmall',
  configSchema: taobaoConfigSchema,
  webhook: {
    signatureHeader: H.signature,
    timestampHeader: H.timestamp,
    signature:
      "stockd's TMC relay scheme (not a Taobao one): uppercase hex HMAC-SHA256(relaySecret, timestamp + '\\n' + raw body)",
    ack: { status: 200 },
    replyWithinMs: 5000,
  },
  limits: TAOBAO_LIMITS,
  capabilities: { compareAndSet: false, readStock: true, fullOrderWebhooks: false, incrementalStock: false },
};

export const taobao = defineConnector({
  descriptor: taobaoDescriptor,
  create: createTaobaoConnector,
  sandbox: async () => (await import('./sandbox-harness.js')).harness,
});

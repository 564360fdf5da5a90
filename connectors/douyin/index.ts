/**
 * The Douyin Doudian (抖店) registry entry: descriptor (plain data) + factory + lazily loaded
 * sandbox harness.
 */
import { type ConnectorDescriptor, defineConnector } from '../contract.js';
import { DOUYIN_LIMITS, douyinConfigSchema } from './config.js';
import { createDouyinConnector } from './connector.js';
import { DOUYIN_PUSH_HEADERS as H } from './webhook.js';

export const douyinDescriptor: ConnectorDescriptor<typeof douyinConfigSchema> = {
  id: 'douyin',
  displayName: 'Douyin Doudian (抖店)',
  configSchema: douyinConfigSchema,
  webhook: {
    signatureHeader: H.signature,
    signature: 'lowercase hex md5(app_key + raw body + app_secret); app-id header = app_key',
    ack: { status: 200, contentType: 'application/json', body: '{"code":0,"msg":"success"}' },
    replyWithinMs: 3000,
  },
  limits: DOUYIN_LIMITS,
  capabilities: { compareAndSet: false, readStock: true, fullOrderWebhooks: false, incrementalStock: true },
};

export const douyin = defineConnector({
  descriptor: douyinDescriptor,
  create: createDouyinConnector,
  sandbox: async () => (await import('./sandbox-harness.js')).harness,
});
